"""Mixed precision on any device: bf16 autocast on the CPU, where AmpOptimWrapper refuses."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from mmdistilldepth.registry import OPTIM_WRAPPERS

from .nonfinite_guard import NonFiniteGuardMixin

_DTYPES = dict(
    bfloat16=torch.bfloat16, bf16=torch.bfloat16, float16=torch.float16, fp16=torch.float16
)


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(NonFiniteGuardMixin, OptimWrapper):
    """An ``OptimWrapper`` whose forward passes run under ``torch.autocast``.

    MMEngine's ``AmpOptimWrapper`` requires CUDA (or NPU/MLU) and a grad scaler.
    bf16 needs no loss scaling, so on the CPU (and on GPUs, too) autocasting the
    forward pass is all mixed precision takes. ``tools/train.py --amp`` picks
    ``AmpOptimWrapper`` on CUDA and this wrapper elsewhere. Like
    ``SkipNonFiniteOptimWrapper``, it skips updates whose loss or gradients are not
    finite (:class:`~mmdistilldepth.engine.optim.NonFiniteGuardMixin`): bf16 has no
    loss scaler to catch an overflow.

    Args:
        dtype (str): ``'bfloat16'`` (default) or ``'float16'`` (GPU only; use
            ``AmpOptimWrapper`` there for loss scaling).
        **kwargs: the arguments of ``OptimWrapper``.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs) -> None:
        super().__init__(**kwargs)
        if dtype not in _DTYPES:
            raise ValueError(
                f'AutocastOptimWrapper: dtype must be one of {sorted(_DTYPES)}, got {dtype!r}'
            )
        self.cast_dtype = _DTYPES[dtype]

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model):
            device = next(model.parameters()).device.type
            with torch.autocast(device_type=device, dtype=self.cast_dtype):
                yield
