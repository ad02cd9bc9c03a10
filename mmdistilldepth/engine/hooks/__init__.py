from .validate_at_start_hook import ValidateAtStartHook

__all__ = ['ValidateAtStartHook']
