"""The contract every teacher follows."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..utils import freeze


class BaseTeacher(nn.Module):
    """A frozen depth model that turns RGB views into disparity pseudo-labels.

    Teachers are frozen forever: their parameters never require grad, they stay in
    eval mode even when the runner calls ``train()``, and the distiller keeps them
    outside the optimizer, DDP and the released student checkpoint.

    Subclasses implement :meth:`_predict`; :meth:`predict` wraps it in
    ``torch.inference_mode()``.
    """

    #: Whether :meth:`predict` reads ``gt_depth``. The distiller cuts the true depth
    #: of each view (with the same boxes as the images) only for such a teacher.
    uses_gt_depth: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.eval()

    def freeze(self) -> None:
        """Make every parameter of this teacher non-trainable and switch to eval."""
        freeze(self)

    def train(self, mode: bool = True) -> 'BaseTeacher':
        # A teacher ignores runner.train(): it stays in eval mode.
        return super().train(False)

    @torch.inference_mode()
    def predict(
        self, images: torch.Tensor, gt_depth: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Predict disparity for a batch of views.

        Args:
            images (Tensor): RGB in [0, 1], shape (B, 3, H, W). Each teacher applies
                its own normalization.
            gt_depth (Tensor, optional): (B, 1, H, W) true depth in metres of the same
                views, given when :attr:`uses_gt_depth` is True; other teachers
                ignore it.

        Returns:
            Tensor: relative disparity (B, 1, H, W), float32, at the input size.
        """
        return self._predict(images, gt_depth=gt_depth).float()

    def _predict(
        self, images: torch.Tensor, gt_depth: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self, images: torch.Tensor, gt_depth: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        return self.predict(images, gt_depth=gt_depth)
