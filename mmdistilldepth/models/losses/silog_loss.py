"""Scale-invariant log loss (SiLog), as Depth Anything V2's metric fine-tuning uses it."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from mmdistilldepth.registry import MODELS


def silog_loss(
    pred: Tensor,
    target: Tensor,
    mask: Optional[Tensor] = None,
    variance_focus: float = 0.5,
    eps: float = 1e-6,
) -> Tensor:
    """``sqrt(mean(d^2) - lambda * mean(d)^2)`` with ``d = log(target) - log(pred)``.

    Eigen et al.'s scale-invariant error in the form Depth Anything V2's
    ``metric_depth`` trains with: the mean runs over the valid pixels of the **whole
    batch** (not per image), ``lambda`` (``variance_focus``) = 0.5 keeps half of the
    scale term (lambda = 1 would be fully scale-invariant, 0 a plain log RMSE).

    Args:
        pred (Tensor): (B, 1, H, W) predicted metric depth, > 0.
        target (Tensor): (B, 1, H, W) ground-truth depth.
        mask (Tensor, optional): (B, 1, H, W) bool, True where ``target`` is valid;
            None: where ``target > 0``.
        variance_focus (float): lambda.
        eps (float): ``pred`` is clamped to >= eps before the log; the value under
            the square root to >= eps**2 (no infinite gradient at a perfect fit).

    Returns:
        Tensor: scalar; 0 (with a graph) when no pixel is valid.
    """
    if mask is None:
        mask = target > 0
    mask = mask.detach() & (target > 0)
    if not bool(mask.any()):
        return pred.sum() * 0.0
    diff = torch.log(target[mask].clamp(min=eps)) - torch.log(pred[mask].clamp(min=eps))
    value = diff.pow(2).mean() - variance_focus * diff.mean().pow(2)
    return torch.sqrt(value.clamp(min=eps * eps))


@MODELS.register_module()
class SiLogLoss(nn.Module):
    """Scale-invariant log loss for metric depth (DAv2 metric training: lambda 0.5).

    Args:
        variance_focus (float): lambda of :func:`silog_loss`.
        loss_weight (float): multiplies the loss.
        eps (float): see :func:`silog_loss`.
    """

    def __init__(
        self, variance_focus: float = 0.5, loss_weight: float = 1.0, eps: float = 1e-6
    ) -> None:
        super().__init__()
        self.variance_focus = float(variance_focus)
        self.loss_weight = float(loss_weight)
        self.eps = float(eps)

    def forward(self, pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """The weighted loss of metric depth ``pred`` against ``target`` on ``mask``."""
        return self.loss_weight * silog_loss(pred, target, mask, self.variance_focus, self.eps)

    def extra_repr(self) -> str:
        return f'variance_focus={self.variance_focus}, loss_weight={self.loss_weight}'
