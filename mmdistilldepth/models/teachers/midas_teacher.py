"""MiDaS v3.1 (official weights) as a frozen teacher."""

from __future__ import annotations

from typing import Optional

import torch

from mmdistilldepth.registry import MODELS

from ..checkpoint_loading import load_depth_checkpoint
from .base_teacher import BaseTeacher


@MODELS.register_module()
class MiDaSTeacher(BaseTeacher):
    """A frozen ``MiDaS`` that predicts disparity for [0, 1] RGB views.

    Each view is normalized as MiDaS does (``(x - 0.5) / 0.5``), resized (torch
    bicubic, ``align_corners=False``) to the network size of the model's own rule
    (BEiT-L: "minimal" resize to a multiple of 32 around 512, aspect kept; Swin2-T:
    always 256x256), run under autocast where the device allows it, and resized back
    (bicubic, ``align_corners=False``, as MiDaS's ``run.py``) to the view size. The
    bicubic overshoot below 0 next to zero pixels is clamped away: the output is
    disparity (>= 0).

    Args:
        model (dict): the estimator config, e.g. ``dict(type='MiDaS',
            model_type='dpt_beit_large_512')``.
        checkpoint (str, optional): official ``.pt`` or ours; None keeps the random
            init (tests only).
        input_size (int, optional): the network size parameter (the model's
            ``net_size``, 512 / 256, when None).
        max_batch (int, optional): run at most this many views per network call
            (:attr:`BaseTeacher.max_batch`, bounds the memory of large teacher
            batches); None: all at once.
        autocast_dtype (torch.dtype, optional): autocast dtype on CUDA
            (``torch.bfloat16``); None runs in float32. The CPU runs in float32.
    """

    def __init__(
        self,
        model: dict,
        checkpoint: Optional[str] = None,
        input_size: Optional[int] = None,
        max_batch: Optional[int] = None,
        autocast_dtype: Optional[torch.dtype] = torch.bfloat16,
    ) -> None:
        super().__init__()
        model = dict(model)
        model.pop('checkpoint', None)
        self.model = MODELS.build(model)
        if not hasattr(self.model, 'network_size') or not hasattr(self.model, 'resize_output'):
            raise TypeError(f'MiDaSTeacher needs a MiDaS model, got {type(self.model).__name__}')
        self.layout = None
        if checkpoint is not None:
            self.layout = load_depth_checkpoint(self.model, checkpoint)
        self.input_size = input_size
        self.max_batch = max_batch
        self.autocast_dtype = autocast_dtype
        self.freeze()

    def network_size(self, height: int, width: int) -> tuple:
        """The (h, w) the network runs at for a view of (height, width)."""
        return tuple(self.model.network_size(height, width, self.input_size))

    def _predict(
        self, images: torch.Tensor, gt_depth: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        height, width = images.shape[-2:]
        x = images.float() * 2.0 - 1.0  # (x - 0.5) / 0.5
        size = self.network_size(height, width)
        if size != (height, width):
            x = torch.nn.functional.interpolate(x, size, mode='bicubic', align_corners=False)
        use_autocast = images.device.type == 'cuda' and self.autocast_dtype is not None
        # BaseTeacher.predict passes at most max_batch views per call.
        with torch.autocast(images.device.type, dtype=self.autocast_dtype, enabled=use_autocast):
            disparity = self.model(x, mode='tensor').float()
        if disparity.shape[-2:] != (height, width):
            disparity = self.model.resize_output(disparity, (height, width))
        return disparity.clamp(min=0)
