from .base_teacher import BaseTeacher

__all__ = ['BaseTeacher']
