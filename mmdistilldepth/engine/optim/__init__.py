from .autocast_optim_wrapper import AutocastOptimWrapper
from .nonfinite_guard import (
    NONFINITE_KEY,
    NonFiniteGuardMixin,
    SkipNonFiniteAmpOptimWrapper,
    SkipNonFiniteOptimWrapper,
)

__all__ = [
    'AutocastOptimWrapper',
    'NONFINITE_KEY',
    'NonFiniteGuardMixin',
    'SkipNonFiniteOptimWrapper',
    'SkipNonFiniteAmpOptimWrapper',
]
