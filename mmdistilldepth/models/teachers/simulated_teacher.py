"""A stand-in teacher for the synthetic world, where no pretrained weights exist."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from mmdistilldepth.registry import MODELS

from .base_teacher import BaseTeacher


@MODELS.register_module()
class SimulatedTeacher(BaseTeacher):
    """Sees a view's true depth through the three flaws that make distillation hard.

    A pretrained teacher is a good but imperfect depth model. This one looks at the
    exact depth of the view it is given (synthetic samples carry it) and degrades it
    the way real teachers are degraded, each property chosen because one part of the
    paper's method exists to answer it:

    1. **A fixed, low internal resolution** (``internal_size``): the view's disparity
       is area-downsampled to this size and bilinearly upsampled back. Like a ViT
       teacher run at a fixed input size, it sees more detail in a small crop than in
       the whole image, which is why local crops (local-global distillation) carry
       finer pseudo-labels than the global view.
    2. **An unknown positive scale and shift of disparity, drawn per call**: real
       teachers predict affine-invariant disparity, so two calls on overlapping
       views disagree by an affine map. This is why the losses normalize (or why
       'no normalization' fails across contexts, the paper's Table 1).
    3. **Smooth low-frequency error** (``noise_amplitude``): a random smooth field
       multiplies the disparity, the kind of large-scale bias a network makes. Global
       normalization spreads such errors over the whole image; hybrid normalization
       keeps them local.

    The random draws are seeded by the content of each view, so the same view always
    gets the same pseudo-label: a resumed run reproduces an uninterrupted one.

    **Metric mode** (``metric=True``) stands in for a metric teacher
    (``DepthAnythingV2(max_depth=...)``): it returns metric *depth* in metres
    (``pred_space = 'depth'``) with flaws 1 and 3 but **no** unknown per-call scale
    and shift (a metric model has none), clipped to ``max_depth`` (the sky, with no
    depth, is at ``max_depth``). It also has the metric models' crop-zoom flaw: a
    view magnified ``z`` times with respect to the whole image (a crop resized up)
    looks closer, so the prediction is the depth divided by ``z``; the distiller
    passes each view's ``view_zoom`` (``uses_view_zoom``) and can undo it
    (``CrossContextDistiller(metric_zoom=True)``).

    Args:
        internal_size (int): side of the square internal resolution.
        scale_range (Sequence[float]): range of the random disparity scale.
        shift_range (Sequence[float]): range of the random disparity shift, as a
            fraction of the view's mean disparity.
        noise_amplitude (float): relative amplitude of the smooth error field.
        noise_cells (int): the error field's resolution (cells per side).
        metric (bool): metric mode (see above).
        max_depth (float): metric mode: the largest depth predicted (metres).
    """

    uses_gt_depth = True

    def __init__(
        self,
        internal_size: int = 32,
        scale_range: Sequence[float] = (0.5, 2.0),
        shift_range: Sequence[float] = (0.0, 0.5),
        noise_amplitude: float = 0.1,
        noise_cells: int = 3,
        metric: bool = False,
        max_depth: float = 80.0,
    ) -> None:
        super().__init__()
        self.metric = bool(metric)
        self.max_depth = float(max_depth)
        self.internal_size = internal_size
        self.scale_range = tuple(scale_range)
        self.shift_range = tuple(shift_range)
        self.noise_amplitude = noise_amplitude
        self.noise_cells = noise_cells
        self.freeze()

    @property
    def uses_view_zoom(self) -> bool:
        """Metric mode: the distiller passes each view's magnification (``view_zoom``)."""
        return self.metric

    @property
    def pred_space(self) -> str:
        """``'depth'`` (metric mode) or ``'disparity'``."""
        return 'depth' if self.metric else 'disparity'

    @torch.inference_mode()
    def predict(
        self,
        images: torch.Tensor,
        gt_depth: Optional[torch.Tensor] = None,
        view_zoom: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """:meth:`BaseTeacher.predict`, plus each view's magnification.

        Args:
            images (Tensor): RGB views (B, 3, H, W) in [0, 1].
            gt_depth (Tensor): their true depth (B, 1, H, W) in metres.
            view_zoom (Tensor, optional): (B,) how much larger than in the whole
                image (at the same view size) each view shows the scene; metric
                mode divides the depth by it (a zoomed crop looks closer). Ignored
                in relative mode (an unknown scale absorbs it).

        Returns:
            Tensor: disparity, or metric depth in metric mode, (B, 1, H, W).
        """
        return self._predict(images, gt_depth=gt_depth, view_zoom=view_zoom).float()

    def _generator(self, depth: torch.Tensor) -> torch.Generator:
        # A seed from the view's content: the same view always gets the same draws.
        checksum = float(depth.double().abs().sum()) + float(depth.double().std()) * 1e3
        seed = int(math.fmod(checksum * 7919.0, 2.0**31 - 1))
        return torch.Generator().manual_seed(seed)

    def _predict(
        self,
        images: torch.Tensor,
        gt_depth: Optional[torch.Tensor] = None,
        view_zoom: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        if gt_depth is None:
            raise ValueError(
                'SimulatedTeacher needs the true depth of each view (gt_depth); it only '
                'works on synthetic data such as SyntheticScenes. For real images use a '
                'pretrained teacher (e.g. DepthAnythingTeacher).'
            )
        b, _, h, w = gt_depth.shape
        valid = gt_depth > 0
        disparity = torch.where(valid, 1.0 / gt_depth.clamp(min=1e-3), torch.zeros_like(gt_depth))
        # 1. fixed low internal resolution
        low = F.adaptive_avg_pool2d(disparity, self.internal_size)
        disparity = F.interpolate(low, size=(h, w), mode='bilinear', align_corners=False)

        gen = self._generator(gt_depth)
        # 3. smooth multiplicative error
        cells = torch.randn(b, 1, self.noise_cells, self.noise_cells, generator=gen)
        field = F.interpolate(cells, size=(h, w), mode='bicubic', align_corners=True)
        disparity = disparity * (1.0 + self.noise_amplitude * field.to(disparity))
        if self.metric:  # no unknown affine; depth, and the crop-zoom flaw
            depth = 1.0 / disparity.clamp(min=1.0 / self.max_depth)
            if view_zoom is not None:
                depth = depth / view_zoom.to(depth).view(-1, 1, 1, 1)
            return depth.clamp(max=self.max_depth)
        # 2. unknown positive scale and shift per view
        lo, hi = self.scale_range
        scale = torch.exp(
            torch.empty(b, 1, 1, 1).uniform_(math.log(lo), math.log(hi), generator=gen)
        )
        shift = torch.empty(b, 1, 1, 1).uniform_(*self.shift_range, generator=gen)
        mean = disparity.mean(dim=(1, 2, 3), keepdim=True)
        disparity = scale.to(disparity) * disparity + shift.to(disparity) * mean
        return disparity.clamp(min=0)
