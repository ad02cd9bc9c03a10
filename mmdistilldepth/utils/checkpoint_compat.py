"""Let mmengine 0.10.7 resume and ``load_from`` its own checkpoints under torch >= 2.6.

torch 2.6 made ``torch.load(..., weights_only=True)`` the default. mmengine 0.10.7
saves a few non-tensor objects in its checkpoints (the message hub's
``HistoryBuffer`` s and the numpy arrays and scalars they hold), so its own
``torch.load`` calls fail on resume. Instead of turning ``weights_only`` off (which
would let a malicious checkpoint run code while it unpickles), we allow-list exactly
the classes and functions mmengine writes. Everything else is still refused.
"""
from __future__ import annotations

import numpy as np
import torch


def _numpy_globals() -> list:
    """The numpy callables and classes needed to unpickle arrays and scalars."""
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(name)) for name in (
        'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
        'uint64', 'float16', 'float32', 'float64')]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def allow_mmengine_checkpoints() -> None:
    """Add mmengine's checkpoint globals to torch's ``weights_only`` allow-list.

    Idempotent; called once when :mod:`mmdistilldepth` is imported.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # pragma: no cover - torch < 2.4 loads freely
        return
    from mmengine.logging.history_buffer import HistoryBuffer
    add_safe_globals([HistoryBuffer, *_numpy_globals()])
