"""Let mmengine 0.10.7 resume and ``load_from`` its own checkpoints under torch >= 2.6.

torch 2.6 made ``torch.load(..., weights_only=True)`` the default. mmengine 0.10.7
saves a few non-tensor objects in its checkpoints (the message hub's
``HistoryBuffer`` s and the numpy arrays and scalars they hold), so its own
``torch.load`` calls fail on resume. Instead of turning ``weights_only`` off (which
would let a malicious checkpoint run code while it unpickles), we allow-list exactly
the classes and functions mmengine writes. Everything else is still refused.

``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'min')``
and so on. Rather than allow-listing Python's ``getattr`` (which would let a
checkpoint read any attribute of any object it can build), the name
``builtins.getattr`` is bound to :func:`_history_buffer_getattr`, which resolves
exactly those statistics methods and refuses everything else.
"""
from __future__ import annotations

import pickle

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


def _history_buffer_getattr(obj, name: str):
    """``getattr`` restricted to ``HistoryBuffer``'s registered statistics methods."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only '
        'HistoryBuffer statistics methods may be resolved')


def allow_mmengine_checkpoints() -> None:
    """Add mmengine's checkpoint globals to torch's ``weights_only`` allow-list.

    Idempotent; called once when :mod:`mmdistilldepth` is imported.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # pragma: no cover - torch < 2.4 loads freely
        return
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer()  # registers the default statistics methods on the class
    add_safe_globals([HistoryBuffer, *_numpy_globals(),
                      (_history_buffer_getattr, 'builtins.getattr')])
