"""Deprecated location: the allow-list now lives in :mod:`mmdistilldepth.models.checkpoint_loading`."""

from mmdistilldepth.models.checkpoint_loading import (  # noqa: F401
    _history_buffer_getattr,
    _numpy_globals,
    allow_mmengine_checkpoints,
)

__all__ = ['allow_mmengine_checkpoints']
