from .freeze import freeze

__all__ = ['freeze']
