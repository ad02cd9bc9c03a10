"""Feature alignment loss of Depth Anything: keep the student near a frozen encoder."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdistilldepth.registry import MODELS

from .normalized_l1_loss import outside_inference_mode


def feature_alignment_loss(
    pred: Tensor, target: Tensor, mask: Optional[Tensor] = None, margin: float = 0.85
) -> Tensor:
    """Mean of ``1 - cos`` over tokens, tokens already closer than ``margin`` skipped.

    At every pixel (token) ``i`` the cosine similarity ``cos_i`` between the
    student's and the frozen encoder's feature vectors is taken over the channels.
    Tokens with ``cos_i > margin`` add nothing (Depth Anything's tolerance margin:
    the student keeps the freedom to specialise its features for depth); the others
    add ``1 - cos_i``. The sum is divided by the number of valid tokens of the image
    (skipped tokens count, so the loss does not jump up as tokens pass the margin),
    then images are averaged.

    Args:
        pred (Tensor): student features, (B, C, h, w) or (B, N, C).
        target (Tensor): frozen encoder features, same shape; no gradient.
        mask (Tensor, optional): bool, (B, h, w) / (B, 1, h, w) or (B, N), True for
            tokens to use; None = all.
        margin (float): cosine similarity above which a token is not penalized.

    Returns:
        Tensor: scalar loss.
    """
    if pred.shape != target.shape or pred.dim() not in (3, 4):
        raise ValueError(
            f'pred and target features must both be (B, C, h, w) or '
            f'(B, N, C) with the same shape; got {tuple(pred.shape)} and '
            f'{tuple(target.shape)}'
        )
    channel_dim = 1 if pred.dim() == 4 else -1
    dtype = torch.promote_types(pred.dtype, torch.float32)
    target = outside_inference_mode(target.detach().to(dtype))
    cos = F.cosine_similarity(pred.to(dtype), target, dim=channel_dim)
    cos = cos.flatten(1)  # (B, tokens)
    valid = (
        torch.ones_like(cos, dtype=torch.bool) if mask is None else mask.reshape(cos.shape).bool()
    )
    penalized = valid & (cos <= margin)
    per_token = torch.where(penalized, 1 - cos, torch.zeros_like(cos))
    n_valid = valid.sum(1)
    per_image = per_token.sum(1) / n_valid.clamp(min=1)
    return per_image.sum() / (n_valid > 0).sum().clamp(min=1)


@MODELS.register_module()
class FeatureAlignmentLoss(nn.Module):
    """Cosine feature alignment between the student and a frozen encoder.

    Args:
        margin (float): tokens whose cosine similarity exceeds it are not penalized
            (0.85 in Depth Anything).
        loss_weight (float): multiplies the loss.
    """

    def __init__(self, margin: float = 0.85, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.margin = margin
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): student features, (B, C, h, w) or (B, N, C).
            target (Tensor): frozen encoder features, same shape.
            mask (Tensor, optional): bool token mask, (B, h, w) or (B, N).

        Returns:
            Tensor: scalar, weighted by ``loss_weight``.
        """
        return self.loss_weight * feature_alignment_loss(pred, target, mask, self.margin)

    def extra_repr(self) -> str:
        return f'margin={self.margin}, loss_weight={self.loss_weight}'
