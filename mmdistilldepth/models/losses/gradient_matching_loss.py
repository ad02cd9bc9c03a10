"""Multi-scale gradient matching loss (MiDaS, Depth Anything) on normalized maps."""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from mmdistilldepth.registry import MODELS

from .normalization import global_normalize
from .normalized_l1_loss import mean_over_images, prepare_depth_pair

_NORMALIZATIONS = ('global', 'none')


def gradient_matching_loss(
    pred: Tensor,
    target: Tensor,
    mask: Optional[Tensor] = None,
    scales: int = 4,
    normalization: str = 'global',
    eps: float = 1e-6,
) -> Tensor:
    """Masked L1 of the image gradients of the normalized residual, over scales.

    The residual ``R = N(pred) - N(target)`` (``N`` = global median / MAD
    normalization, or identity for ``'none'``) is subsampled with stride ``2^k``
    for ``k = 0 .. scales - 1``. At each scale the absolute x and y finite
    differences of ``R`` between two valid neighbours are summed and divided by
    the number of valid pixels at that scale (as MiDaS does); the scales are
    summed. Images are averaged over those with valid pixels.

    Args:
        pred (Tensor): (B, 1, H, W) student disparity.
        target (Tensor): (B, 1, H, W) teacher disparity; no gradient.
        mask (Tensor, optional): (B, 1, H, W) bool, True where valid; None = all.
        scales (int): number of scales (>= 1).
        normalization (str): 'global' or 'none'.
        eps (float): added to the global scales.

    Returns:
        Tensor: scalar loss.
    """
    if normalization not in _NORMALIZATIONS:
        raise ValueError(f'normalization must be one of {_NORMALIZATIONS}, got {normalization!r}')
    if scales < 1:
        raise ValueError(f'scales must be >= 1, got {scales}')
    pred, target, mask = prepare_depth_pair(pred, target, mask)
    if normalization == 'global':
        pred = global_normalize(pred, mask, eps=eps)
        target = global_normalize(target, mask, eps=eps)
    residual = pred - target
    total = residual.new_zeros(())
    for k in range(scales):
        step = 2**k
        r, m = residual[..., ::step, ::step], mask[..., ::step, ::step]
        grad_x = (r[..., 1:] - r[..., :-1]).abs() * (m[..., 1:] & m[..., :-1])
        grad_y = (r[..., 1:, :] - r[..., :-1, :]).abs() * (m[..., 1:, :] & m[..., :-1, :])
        sums = grad_x.flatten(1).sum(1) + grad_y.flatten(1).sum(1)
        total = total + mean_over_images(sums, m.flatten(1).sum(1))
    return total


@MODELS.register_module()
class GradientMatchingLoss(nn.Module):
    """Multi-scale gradient matching loss on normalized depth maps.

    Args:
        scales (int): number of scales, strides 1, 2, 4, ... (MiDaS uses 4).
        normalization (str): 'global' (median / MAD per image) or 'none' (inputs
            already normalized).
        loss_weight (float): multiplies the loss.
        eps (float): added to the global scales.
    """

    def __init__(
        self,
        scales: int = 4,
        normalization: str = 'global',
        loss_weight: float = 1.0,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if normalization not in _NORMALIZATIONS:
            raise ValueError(
                f'normalization must be one of {_NORMALIZATIONS}, got {normalization!r}'
            )
        self.scales = int(scales)
        self.normalization = normalization
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): (B, 1, H, W) student prediction.
            target (Tensor): (B, 1, H, W) teacher pseudo-label.
            mask (Tensor, optional): (B, 1, H, W) bool, True where valid.

        Returns:
            Tensor: scalar, weighted by ``loss_weight``.
        """
        loss = gradient_matching_loss(pred, target, mask, self.scales, self.normalization, self.eps)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (
            f'scales={self.scales}, normalization={self.normalization!r}, '
            f'loss_weight={self.loss_weight}'
        )
