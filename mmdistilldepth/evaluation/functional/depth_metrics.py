"""Depth-error formulas over the valid pixels of one image (Marigold's ``metric.py``)."""

from __future__ import annotations

import math
from typing import Dict

import torch

#: The metrics every depth evaluation returns, in report order.
METRIC_NAMES = (
    'abs_rel',
    'sq_rel',
    'rmse',
    'rmse_log',
    'log10',
    'delta1',
    'delta2',
    'delta3',
    'i_rmse',
    'silog_rmse',
)


def depth_error_metrics(
    pred: torch.Tensor, gt: torch.Tensor, valid_mask: torch.Tensor
) -> Dict[str, torch.Tensor]:
    """All metrics of :data:`METRIC_NAMES` for one image, in float32.

    With ``p`` the prediction and ``g`` the ground truth on the ``n`` valid pixels and
    ``d = ln p - ln g``:

    * abs_rel = mean(|p - g| / g), sq_rel = mean((p - g)^2 / g)
    * rmse = sqrt(mean((p - g)^2)), rmse_log = sqrt(mean(d^2))
    * log10 = mean(|log10 p - log10 g|) (computed as mean(|d|) / ln 10)
    * delta_k = fraction of pixels with max(p / g, g / p) < 1.25^k
    * i_rmse = sqrt(mean((1/p - 1/g)^2))
    * silog_rmse = 100 * sqrt(mean(d^2) - (sum d)^2 / n^2)

    Args:
        pred (Tensor): (H, W) depth in metres, > 0 on the valid pixels.
        gt (Tensor): (H, W) depth in metres, > 0 on the valid pixels.
        valid_mask (Tensor): (H, W) bool with at least one True pixel.

    Returns:
        dict[str, Tensor]: 0-d float32 tensors on the input's device (no host sync).
    """
    return depth_error_metrics_of_values(pred[valid_mask], gt[valid_mask])


def depth_error_metrics_of_values(pred: torch.Tensor, gt: torch.Tensor) -> Dict[str, torch.Tensor]:
    """:func:`depth_error_metrics` on the valid pixels' values, (N,) each (N >= 1)."""
    p, g = pred.float(), gt.float()
    n = p.numel()
    diff = p - g
    sq_diff = diff * diff
    log_diff = torch.log(p) - torch.log(g)
    sum_sq_log = (log_diff * log_diff).sum() / n
    ratio = torch.maximum(p / g, g / p)
    inv_diff = 1.0 / p - 1.0 / g
    return dict(
        abs_rel=(diff.abs() / g).sum() / n,
        sq_rel=(sq_diff / g).sum() / n,
        rmse=torch.sqrt(sq_diff.sum() / n),
        rmse_log=torch.sqrt(sum_sq_log),
        log10=log_diff.abs().mean() / math.log(10),
        delta1=(ratio < 1.25).sum().float() / n,
        delta2=(ratio < 1.25**2).sum().float() / n,
        delta3=(ratio < 1.25**3).sum().float() / n,
        i_rmse=torch.sqrt((inv_diff * inv_diff).sum() / n),
        silog_rmse=torch.sqrt(sum_sq_log - log_diff.sum() ** 2 / n**2) * 100,
    )
