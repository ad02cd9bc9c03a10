"""The distillation loss of Distill Any Depth: L1 between normalized depth maps.

One implementation on every device, plain torch (:mod:`.contexts`,
:mod:`.normalization`): fixed shapes, no host synchronization in forward or backward,
and the whole loss compiles with ``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from mmdistilldepth.registry import MODELS

from .contexts import GROUPINGS, NORMALIZATIONS, build_contexts, lane_sums
from .normalization import median_pixels, normalize_flat


def outside_inference_mode(x: Tensor) -> Tensor:
    """A tensor autograd may save: teachers run under ``torch.inference_mode()``.

    Under ``torch.compile`` (which cannot trace ``is_inference()``) it always copies.
    """
    if torch.compiler.is_compiling():
        return x.clone()
    return x.clone() if x.is_inference() else x


def prepare_depth_pair(
    pred: Tensor, target: Tensor, mask: Optional[Tensor]
) -> Tuple[Tensor, Tensor, Tensor]:
    """Check (B, 1, H, W) shapes, compute in >= float32, detach the target.

    Invalid pixels of both maps are set to 0, so NaN or inf there cannot leak into the
    loss or its gradient. Targets and masks made under ``torch.inference_mode`` are accepted.
    Returns ``pred``, ``target`` and a bool ``mask``.
    """
    if pred.shape != target.shape or pred.dim() != 4 or pred.shape[1] != 1:
        raise ValueError(
            f'pred and target must both have shape (B, 1, H, W); got '
            f'{tuple(pred.shape)} and {tuple(target.shape)}'
        )
    if mask is None:
        mask = torch.ones_like(target, dtype=torch.bool)
    elif mask.shape != target.shape:
        raise ValueError(
            f'mask must have the shape of target {tuple(target.shape)}, got {tuple(mask.shape)}'
        )
    # The target needs no copy: torch.where below makes a new tensor of it.
    mask = outside_inference_mode(mask.bool())
    dtype = torch.promote_types(pred.dtype, torch.float32)
    pred, target = pred.to(dtype), target.detach().to(dtype)
    return torch.where(mask, pred, 0.0), torch.where(mask, target, 0.0), mask


def mean_over_images(sums: Tensor, counts: Tensor) -> Tensor:
    """Mean of per-image means ``sums / counts`` over the images with ``counts > 0``.

    Args:
        sums (Tensor): (B,) per-image sums of a per-pixel loss.
        counts (Tensor): (B,) per-image numbers of valid pixels.

    Returns:
        Tensor: scalar; 0 (with zero gradient) when no image has a valid pixel.
    """
    per_image = sums / counts.clamp(min=1)
    return per_image.sum() / (counts > 0).sum().clamp(min=1)


def reduce_pixel_loss(loss: Tensor, mask: Tensor, batch_mean: bool) -> Tensor:
    """Average a per-pixel loss over the valid pixels.

    Args:
        loss (Tensor): (B, 1, H, W) per-pixel loss, 0 at invalid pixels.
        mask (Tensor): (B, 1, H, W) bool, True where valid.
        batch_mean (bool): divide the batch sum by the batch's valid count (HDN);
            otherwise average each image over its valid pixels, then average the
            images that have any.

    Returns:
        Tensor: scalar; 0 (with zero gradient) when no pixel is valid.
    """
    if batch_mean:
        return loss.sum() / mask.sum().clamp(min=1)
    return mean_over_images(loss.flatten(1).sum(1), mask.flatten(1).sum(1))


def _with_none_column(values: Tensor) -> Tensor:
    """(B, K) -> (B, K + 1): column K, "in no context", holds 0."""
    return torch.cat([values, values.new_zeros(values.shape[0], 1)], dim=1)


class _NormalizedL1Error(torch.autograd.Function):
    """Per-pixel ``sum_l |N_l(x) - N_l(target)|`` with a closed-form backward.

    ``N_l(x) = (x - m) / (s + eps)`` in the pixel's context at level ``l``, ``m`` the
    context's median (the mean of its middle pixels), ``s`` its mean absolute
    deviation ``sum |x - m| / D``. The backward is autograd's for the same
    expression (``d|u|/du = sign(u)``, 0 at 0; the median's gradient goes to its
    middle pixels), written out so that it touches each (B, L, N) tensor a few
    times instead of saving and replaying a dozen gathers and scatters.

    Inputs: ``x`` (B, N); ``norm_target`` (B, L, N) the normalized target;
    ``ids`` (B, L, N) context ids (K = none) and ``lane_ids`` (B, L * N) of
    :class:`DepthContexts`; ``counts`` (B, K); ``pixels`` (B, K, Q) middle pixels of
    the contexts in ``x``; ``denom`` (B, K) the divisor D of the scale; ``eps``.
    """

    @staticmethod
    def forward(ctx, x, norm_target, ids, lane_ids, counts, pixels, denom, eps):
        num = counts.shape[1]
        flat = ids.flatten(1)
        shift = x.gather(1, pixels.flatten(1)).view(pixels.shape).mean(-1)
        shift = shift.masked_fill(counts == 0, 0)
        # In place where a buffer is free: every new (B, L, N) tensor costs page faults.
        centered = _with_none_column(shift).gather(1, flat).view_as(ids)
        centered = centered.neg_().add_(x.unsqueeze(1))
        total = lane_sums(lane_ids, centered.abs(), num)
        inv = 1 / (total / denom + eps)
        inv_px = _with_none_column(inv).gather(1, flat).view_as(ids)
        diff = (centered * inv_px).sub_(norm_target)
        ctx.save_for_backward(
            ids, lane_ids, counts, pixels, denom, inv, inv_px, centered, diff.sign()
        )
        return diff.abs_().sum(1)

    @staticmethod
    def backward(ctx, grad):
        ids, lane_ids, counts, pixels, denom, inv, inv_px, centered, sign_diff = ctx.saved_tensors
        num = counts.shape[1]
        g = sign_diff * grad.unsqueeze(1)  # dL / dN_l(x_i)
        g_shift = -inv * lane_sums(lane_ids, g, num)
        g_inv = lane_sums(lane_ids, g * centered, num)  # dL / d(1 / (s + eps))
        g_dev = -(inv * inv) * g_inv / denom  # dL / d(sum |x - m|)
        sign_centered = centered.sign()
        g_shift = g_shift - g_dev * lane_sums(lane_ids, sign_centered, num)
        g_dev_px = _with_none_column(g_dev).gather(1, ids.flatten(1)).view_as(g)
        grad_x = g.mul_(inv_px).addcmul_(sign_centered, g_dev_px).sum(1)
        g_shift = g_shift.masked_fill(counts == 0, 0) / pixels.shape[-1]
        grad_x = grad_x.scatter_add(
            1, pixels.flatten(1), g_shift.unsqueeze(-1).expand(pixels.shape).flatten(1)
        )
        return grad_x, None, None, None, None, None, None, None


def normalized_l1_loss(
    pred: Tensor,
    target: Tensor,
    mask: Optional[Tensor] = None,
    normalization: str = 'hybrid',
    grouping: str = 'range',
    levels: Sequence[int] = (1, 2, 4),
    hdn_compat: bool = False,
    eps: float = 1e-6,
) -> Tensor:
    """Mean absolute difference of the normalized student and teacher maps.

    Each valid pixel's loss is the mean, over the contexts containing it, of
    ``|N_u(pred) - N_u(target)|`` (paper eq. 4); contexts come from the target.

    Args:
        pred (Tensor): (B, 1, H, W) student disparity (or depth).
        target (Tensor): (B, 1, H, W) teacher disparity, same domain; no gradient.
        mask (Tensor, optional): (B, 1, H, W) bool, True where valid; None = all.
        normalization (str): 'global', 'hybrid', 'local' or 'none'.
        grouping (str): 'range', 'quantile' or 'spatial' contexts (hybrid, local).
        levels (Sequence[int]): segment counts S of the hybrid levels.
        hdn_compat (bool): reproduce the official HDN loss (see
            :mod:`~mmdistilldepth.models.losses.normalization`); it also divides by
            the batch's valid count instead of averaging images.
        eps (float): added to the scales.

    Returns:
        Tensor: scalar loss.
    """
    pred, target, mask = prepare_depth_pair(pred, target, mask)
    contexts = build_contexts(target, mask, normalization, grouping, levels, hdn_compat)
    if contexts is None:
        return reduce_pixel_loss((pred - target).abs(), mask, hdn_compat)
    norm_target = normalize_flat(target.flatten(1), contexts, True, hdn_compat, eps)
    pred = pred.flatten(1)
    counts = contexts.counts
    denom = counts + 1 if hdn_compat else counts.clamp(min=1)
    # Both maps normalize to 0 outside a pixel's contexts, so those add nothing.
    pixels = median_pixels(pred, contexts, False, hdn_compat)
    error = _NormalizedL1Error.apply(
        pred, norm_target, contexts.ids, contexts.lane_ids, counts, pixels, denom, eps
    )
    error = error / contexts.levels_per_pixel.clamp(min=1)
    return reduce_pixel_loss(error.view_as(mask), mask, hdn_compat)


@MODELS.register_module()
class NormalizedL1Loss(nn.Module):
    """L1 distillation loss between normalized student and teacher depth maps.

    Args:
        normalization (str): 'global' (median / MAD of the image), 'hybrid'
            (hierarchical contexts at every level of ``levels``), 'local' (the
            finest level only) or 'none' (raw values).
        grouping (str): how hybrid and local contexts are formed from the teacher
            map: 'range' (equal-width value bins), 'quantile' (equal-count value
            bins) or 'spatial' (S x S image tiles).
        levels (Sequence[int]): segment counts S of the hybrid levels.
        hdn_compat (bool): reproduce the official HDN code (icoz69/HDN demo.py) to
            float64 round-off. The defaults follow the paper's formulas instead,
            and differ from HDN in six places, each a flaw of HDN:

            1. median: HDN takes the lower middle value; default: the mean of the
               two middle values (unbiased, odd-symmetric).
            2. scale: HDN divides the absolute deviations by ``N + 1``; default:
               by ``N``, the mean absolute deviation (HDN inflates small contexts).
            3. range bins: HDN's top bin is open, so the max pixel usually lies in
               no context yet counts in the denominator; default: closed.
            4. quantile bins: same, HDN always drops the max pixel; default: closed.
            5. spatial tiles: HDN sizes both axes by the width (square maps only);
               default: rows by the height, columns by the width.
            6. denominator: HDN divides by the valid pixels of the whole batch;
               default: mean per image, then over images, so an image's weight does
               not depend on how many of its pixels are valid.

            Both settings return 0 (zero gradient) without valid pixels, where HDN
            divides 0 by 0. See :mod:`~mmdistilldepth.models.losses.normalization`.
        loss_weight (float): multiplies the loss.
        eps (float): added to the scales.
    """

    def __init__(
        self,
        normalization: str = 'hybrid',
        grouping: str = 'range',
        levels: Sequence[int] = (1, 2, 4),
        hdn_compat: bool = False,
        loss_weight: float = 1.0,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f'normalization must be one of {NORMALIZATIONS}, got {normalization!r}'
            )
        if grouping not in GROUPINGS:
            raise ValueError(f'grouping must be one of {GROUPINGS}, got {grouping!r}')
        self.normalization = normalization
        self.grouping = grouping
        self.levels = tuple(int(s) for s in levels)
        self.hdn_compat = hdn_compat
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): (B, 1, H, W) student prediction.
            target (Tensor): (B, 1, H, W) teacher pseudo-label; contexts come from it.
            mask (Tensor, optional): (B, 1, H, W) bool, True where valid.

        Returns:
            Tensor: scalar, weighted by ``loss_weight``.
        """
        loss = normalized_l1_loss(
            pred,
            target,
            mask,
            self.normalization,
            self.grouping,
            self.levels,
            self.hdn_compat,
            self.eps,
        )
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (
            f'normalization={self.normalization!r}, grouping={self.grouping!r}, '
            f'levels={self.levels}, hdn_compat={self.hdn_compat}, '
            f'loss_weight={self.loss_weight}'
        )
