"""TensorBoard when it is installed, nothing (and one log line) when it is not."""

from __future__ import annotations

import importlib.util
import logging

from mmengine.logging import print_log
from mmengine.visualization import TensorboardVisBackend

from mmdistilldepth.registry import VISBACKENDS


class _NoWriter:
    """Stands in for ``SummaryWriter``: every call does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def tensorboard_available() -> bool:
    """Whether ``torch.utils.tensorboard`` can write (the ``tensorboard`` package)."""
    return importlib.util.find_spec('tensorboard') is not None


@VISBACKENDS.register_module()
class OptionalTensorboardVisBackend(TensorboardVisBackend):
    """MMEngine's ``TensorboardVisBackend`` that is skipped when TensorBoard is absent.

    ``configs/_base_/default_runtime.py`` lists it beside ``LocalVisBackend``, so a
    machine with ``pip install tensorboard`` gets event files under
    ``work_dir/<timestamp>/vis_data/`` (``tensorboard --logdir work_dirs``), and one
    without it trains the same, with one line in the log saying how to get them.

    Args:
        save_dir (str): where the event files go (set by the visualizer).
    """

    def _init_env(self) -> None:
        if tensorboard_available():
            super()._init_env()
            return
        print_log(
            'TensorBoard is not installed: scalars and pictures go to the '
            'LocalVisBackend files only (pip install tensorboard to get them in '
            'TensorBoard too)',
            logger='current',
            level=logging.INFO,
        )
        self._tensorboard = _NoWriter()

    def close(self) -> None:
        if hasattr(self, '_tensorboard'):
            self._tensorboard.close()
