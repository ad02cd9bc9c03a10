"""Depth Anything V2 (official or Distill-Any-Depth weights) as a frozen teacher."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from mmdistilldepth.apis.preprocessing import dav2_input_size
from mmdistilldepth.registry import MODELS
from mmdistilldepth.utils.constants import IMAGENET_MEAN, IMAGENET_STD

from ..checkpoint_loading import load_depth_checkpoint
from .base_teacher import BaseTeacher


def round_to_multiple(height: int, width: int, multiple: int = 14) -> tuple:
    """The nearest multiple of ``multiple`` of each side (at least one patch)."""
    return (
        max(multiple, int(round(height / multiple)) * multiple),
        max(multiple, int(round(width / multiple)) * multiple),
    )


@MODELS.register_module()
class DepthAnythingTeacher(BaseTeacher):
    """A frozen ``DepthAnythingV2`` that predicts disparity for [0, 1] RGB views.

    With a metric model (``model=dict(type='DepthAnythingV2', max_depth=20, ...)``
    and an official ``depth_anything_v2_metric_*`` checkpoint) it predicts metric
    **depth** in metres instead, and says so in ``pred_space = 'depth'``. The
    distiller then distills depth (a metric student and a scale-aware loss such as
    ``SiLogLoss``; ``configs/metric_distill/``) rather than disparity: the
    "distiller only sees disparity" rule of the relative setting is for teachers
    whose scale is unknown anyway.

    The views are ImageNet-normalized, resized (bicubic) to the network size,
    run under autocast where the device allows it (bf16 on CUDA) and the disparity
    is resized back (bilinear, ``align_corners=True``) to the view size.

    Args:
        model (dict): the estimator config, e.g.
            ``dict(type='DepthAnythingV2', encoder='vitl', features=256,
            out_channels=[256, 512, 1024, 1024])``.
        checkpoint (str, optional): weights in any layout the loader accepts
            (official DAv2 ``.pth``, Distill-Any-Depth ``.safetensors``, ours).
            None keeps the random init (tests only).
        input_size (int, optional): run at the official size for this lower bound
            (keep aspect, multiple of 14, see ``dav2_input_size``), e.g. 518. None
            runs at the view size, rounded to a multiple of 14 when it is not one.
        autocast_dtype (torch.dtype, optional): autocast dtype on CUDA
            (``torch.bfloat16``); None runs in float32. The CPU runs in float32.
        max_batch (int, optional): run at most this many views per network call
            (:attr:`BaseTeacher.max_batch`, a memory lever); None: all at once.
    """

    def __init__(
        self,
        model: dict,
        checkpoint: Optional[str] = None,
        input_size: Optional[int] = None,
        autocast_dtype: Optional[torch.dtype] = torch.bfloat16,
        max_batch: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.max_batch = max_batch
        model = dict(model)
        model.pop('checkpoint', None)
        self.model = MODELS.build(model)
        self.layout = None
        if checkpoint is not None:
            self.layout = load_depth_checkpoint(self.model, checkpoint)
        self.input_size = input_size
        self.autocast_dtype = autocast_dtype
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    @property
    def pred_space(self) -> str:
        """``'depth'`` for a metric model, ``'disparity'`` for a relative one."""
        return getattr(self.model, 'pred_space', 'disparity')

    def network_size(self, height: int, width: int) -> tuple:
        """The (h, w) the network runs at for a view of (height, width)."""
        if self.input_size is not None:
            return dav2_input_size(height, width, self.input_size)
        return round_to_multiple(height, width, self.model.patch_size)

    def _network_input(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet-normalized views at the network size."""
        x = (images.float() - self.mean) / self.std
        size = self.network_size(*images.shape[-2:])
        if size != tuple(images.shape[-2:]):
            x = F.interpolate(x, size, mode='bicubic', align_corners=False)
        return x

    def _autocast(self, images: torch.Tensor):
        use_autocast = images.device.type == 'cuda' and self.autocast_dtype is not None
        return torch.autocast(images.device.type, dtype=self.autocast_dtype, enabled=use_autocast)

    def _to_view_size(self, disparity: torch.Tensor, size) -> torch.Tensor:
        disparity = disparity.float()
        if disparity.shape[-2:] != tuple(size):
            disparity = F.interpolate(disparity, tuple(size), mode='bilinear', align_corners=True)
        return disparity

    def _predict(
        self, images: torch.Tensor, gt_depth: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        with self._autocast(images):
            disparity = self.model(self._network_input(images), mode='tensor')
        return self._to_view_size(disparity, images.shape[-2:])

    #: ``forward_with_features`` gives the last selected layer's normalized tokens,
    #: the same features a frozen copy of this encoder gives ``L_feat``.
    provides_features = True

    def _predict_with_features(self, images: torch.Tensor, gt_depth: Optional[torch.Tensor]):
        with self._autocast(images):
            disparity, features = self.model.forward_with_features(self._network_input(images))
        return self._to_view_size(disparity, images.shape[-2:]), features

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        x = self._network_input(images)
        patch = self.model.patch_size
        with self._autocast(images):
            tokens = self.model.extract_feat(x)[-1][0]
        h, w = x.shape[-2] // patch, x.shape[-1] // patch
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[-1], h, w)
