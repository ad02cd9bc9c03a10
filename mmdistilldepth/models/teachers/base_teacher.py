"""The contract every teacher follows."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

from ..utils import freeze


class BaseTeacher(nn.Module):
    """A frozen depth model that turns RGB views into disparity pseudo-labels.

    Teachers are frozen forever: their parameters never require grad, they stay in
    eval mode even when the runner calls ``train()``, and the distiller keeps them
    outside the optimizer, DDP and the released student checkpoint.

    Subclasses implement :meth:`_predict`; :meth:`predict` wraps it in
    ``torch.inference_mode()`` and runs it on micro-batches of at most
    :attr:`max_batch` views (a memory lever: the activations of one network call on
    many large views are the teacher's peak; the FLOPs are the same).
    """

    #: Run at most this many views per network call (None: all at once). Teachers
    #: take it as a constructor argument (``DepthAnythingTeacher(max_batch=8)``).
    max_batch: Optional[int] = None

    #: Whether :meth:`predict_with_features` and :meth:`encode` are offered.
    provides_features: bool = False

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
        return torch.cat(
            [self._predict(x, gt_depth=d).float() for x, d in self._chunks(images, gt_depth)]
        )

    @torch.inference_mode()
    def predict_with_features(
        self, images: torch.Tensor, gt_depth: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """:meth:`predict` and the encoder's last-layer features of the same call.

        For a teacher whose encoder is also the frozen encoder of ``L_feat``
        (:attr:`provides_features`): the distiller then takes those features from the
        teacher call it makes anyway instead of running the encoder again.

        Returns:
            tuple: disparity (B, 1, H, W) float32 and features (B, C, h, w) float32.
        """
        self._check_features()
        outs = [self._predict_with_features(x, d) for x, d in self._chunks(images, gt_depth)]
        return (
            torch.cat([o[0].float() for o in outs]),
            torch.cat([o[1].float() for o in outs]),
        )

    @torch.inference_mode()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The encoder's last-layer features (B, C, h, w), float32, without the head."""
        self._check_features()
        return torch.cat([self._encode(x).float() for x, _ in self._chunks(images, None)])

    def _check_features(self) -> None:
        if not self.provides_features:
            raise TypeError(
                f'{type(self).__name__} does not return encoder features; build the '
                "distiller with feat_source='copy' (a frozen copy of the student's encoder)"
            )

    def _predict_with_features(self, images: torch.Tensor, gt_depth: Optional[torch.Tensor]):
        raise NotImplementedError

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _chunks(self, images: torch.Tensor, gt_depth: Optional[torch.Tensor]):
        """(images, gt_depth) micro-batches of at most :attr:`max_batch` views."""
        size = int(self.max_batch or 0)
        if size <= 0 or images.shape[0] <= size:
            return [(images, gt_depth)]
        depth = [None] * -(-images.shape[0] // size) if gt_depth is None else gt_depth.split(size)
        return list(zip(images.split(size), depth))

    def _predict(
        self, images: torch.Tensor, gt_depth: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self, images: torch.Tensor, gt_depth: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        return self.predict(images, gt_depth=gt_depth)
