"""Depth normalizations of Distill Any Depth (paper section 3.1).

A normalization maps a depth or disparity map ``d`` to ``(d - t) / (s + eps)``,
where the shift ``t`` is the median and the scale ``s`` the mean absolute
deviation from it, computed over a *context*: a set of valid pixels of one image
(see :mod:`.contexts`).

* global: one context per image, all its valid pixels.
* hybrid (HDN, Zhang et al. 2022): several levels of contexts. At level ``S`` the
  valid pixels are split into ``S`` groups by value range (``'range'``), by
  quantile (``'quantile'``) or into ``S x S`` tiles (``'spatial'``). The default
  levels are ``S in (1, 2, 4)``; each pixel lies in one context per level.
* local: only the finest level of the hybrid contexts.
* none: the raw values.

Contexts are built from the *target* (teacher) map and shared with the prediction,
so both maps are normalized over the same pixels.

Everything is plain vectorized torch, per image, masked, without sorting: the
medians of every context of both maps are exact order statistics found by radix
selection (:mod:`.selection`), two histogram passes over a float32 map. No Python loop
runs over pixels or contexts (only over the few levels).

``hdn_compat=True`` reproduces the official HDN code (icoz69/HDN, demo.py) to
float64 round-off; the defaults differ from it where it is arguably wrong:

1. Median: the official code takes the *lower* middle value for even counts
   (``torch.nanmedian``); the default takes the mean of the two middle values,
   the median of the paper's formula. The lower median is biased by half a gap
   and breaks the symmetry ``N(-d) = -N(d)``.
2. Scale: the official code divides the sum of absolute deviations by ``N + 1``;
   the default divides by ``N``, the *mean* absolute deviation of the paper. The
   ``+ 1`` shrinks the scale of small contexts (a 4-pixel context by 20 %), so
   the normalized values of small contexts are inflated.
3. Range bins: the official bins are half-open ``[lo, hi)`` with
   ``hi = lo_next + 1e-30``, so the pixel equal to the image maximum lies in no
   bin unless ``min + (max - min) * 1.0`` happens to round above ``max`` (it is
   left out of every context but still counted in the loss denominator). The
   default closes the top bin, so every valid pixel is in one context per level.
4. Quantile bins: likewise the official top bin ``[q(1 - 1/S), q(1))`` never holds
   the maximum; the default closes it.
5. Spatial tiles: the official code sizes both axes by the width and only works
   on square maps; the default tiles rows by the height, columns by the width.
6. (In the loss) the official denominator is the valid pixel count of the whole
   batch; the default averages each image, then the images.

Known limit of ``hdn_compat``: when the target's value range is below ~1e-14 the
official ``+ 1e-30`` makes neighbouring range bins overlap (a constant-zero map
lies in every bin); here each pixel lies in at most one context per level.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from . import selection
from .contexts import DepthContexts, build_contexts, flatten_maps, global_contexts
from .selection import key_values, order_keys, select_ranks, select_row_ranks


def median_ranks(counts: Tensor, hdn_compat: bool) -> Tensor:
    """(B, K, Q) 1-based ranks of the middle value(s) of contexts of ``counts`` members.

    ``Q`` is 1 with ``hdn_compat`` (the lower median), else 2 (the two middle values,
    equal for odd counts). Empty contexts get rank 0.
    """
    ranks = [(counts - 1).div(2, rounding_mode='floor') + 1]
    if not hdn_compat:
        ranks.append(counts.div(2, rounding_mode='floor') + 1)
    return torch.stack(ranks, dim=-1)


def _select_medians(
    x: Tensor,
    contexts: DepthContexts,
    hdn_compat: bool,
    with_pixels: bool,
    is_source: bool = False,
) -> Tuple[Tensor, Optional[Tensor]]:
    """Middle keys (B, K, Q) of every context and, if asked, pixels holding them."""
    keys = order_keys(x.detach())
    ranks = median_ranks(contexts.counts, hdn_compat)
    if is_source and not with_pixels and _ranks_in_rows(keys, contexts):
        # Value-interval contexts of x itself: order statistics of the whole image.
        start = _level_starts(contexts.counts, contexts.sizes).unsqueeze(-1)
        valid = contexts.levels_per_pixel > 0
        selected = select_row_ranks(keys, valid, (start + ranks).flatten(1))
        return selected.view(ranks.shape), None
    ids = [contexts.ids[:, level] for level in range(contexts.ids.shape[1])]
    return select_ranks(keys, ids, contexts.sizes, ranks, contexts.nested, with_pixels)


def _ranks_in_rows(keys: Tensor, contexts: DepthContexts) -> bool:
    """Whether :func:`select_row_ranks` applies: float32 keys of a big map, whose
    contexts are value intervals of the map (every level's contexts split its
    sorted valid values into consecutive runs; pixels a level leaves out, HDN's top
    pixel, lie above them all).
    """
    return (
        keys.dtype == torch.int32
        and keys.shape[1] >= selection.WIDE_DIGITS_FROM
        and contexts.kind in ('global', 'range', 'quantile')
    )


def _level_starts(counts: Tensor, sizes: Sequence[int]) -> Tensor:
    """(B, K) members of the earlier contexts of each context's level."""
    starts, offset = [], 0
    for size in sizes:
        level = counts[:, offset : offset + size]
        starts.append(level.cumsum(1) - level)
        offset += size
    return torch.cat(starts, 1)


def median_pixels(x: Tensor, contexts: DepthContexts, is_source: bool, hdn_compat: bool) -> Tensor:
    """(B, K, Q) pixel indices of the middle value(s) of every context, no gradient.

    ``Q`` is 1 with ``hdn_compat`` (the lower median), else 2 (the two middle values,
    equal for odd counts); with ties, one of the tied pixels.
    Empty contexts point at an arbitrary pixel. Exact radix selection
    (:mod:`.selection`), no sort. ``is_source`` is unused (kept for the callers).
    """
    return _select_medians(x, contexts, hdn_compat, True)[1]


def _context_medians(
    x: Tensor, contexts: DepthContexts, is_source: bool, hdn_compat: bool
) -> Tensor:
    """(B, K) median of every context (0 when empty), differentiable in ``x``.

    Without gradient the medians are the selected keys' values; with it, the values
    of the selected pixels, through which the gradient flows.
    """
    if x.requires_grad:
        pixels = median_pixels(x, contexts, is_source, hdn_compat)
        middle = x.gather(1, pixels.flatten(1)).view(pixels.shape)
    else:
        middle = key_values(_select_medians(x, contexts, hdn_compat, False, is_source)[0])
    return middle.mean(-1).masked_fill(contexts.counts == 0, 0)


def _center(
    x: Tensor, contexts: DepthContexts, is_source: bool, hdn_compat: bool
) -> Tuple[Tensor, Tensor, Tensor]:
    """Median shift (B, K), MAD scale (B, K) and ``x - shift`` per level (B, L, N)."""
    bsz = x.shape[0]
    shift = _context_medians(x, contexts, is_source, hdn_compat)
    ids = contexts.ids.flatten(1)
    # Pixels in no context are centred on 0; their deviations land in column K.
    shift_ext = torch.cat([shift, shift.new_zeros(bsz, 1)], dim=1)
    centered = x.unsqueeze(1) - shift_ext.gather(1, ids).view_as(contexts.ids)
    total = contexts.sums(centered.abs())
    counts = contexts.counts
    scale = total / (counts + 1 if hdn_compat else counts.clamp(min=1))
    return shift, scale, centered


def context_shift_scale(
    x: Tensor, contexts: DepthContexts, is_source: bool = False, hdn_compat: bool = False
) -> Tuple[Tensor, Tensor]:
    """Median shift and mean-absolute-deviation scale of every context.

    Args:
        x (Tensor): (B, 1, H, W), (B, H, W) or (B, N) values, finite.
        contexts (DepthContexts): the contexts.
        is_source (bool): ``x`` is the map the contexts were built from. Without
            gradient its medians in value-interval contexts (global, range,
            quantile) are then order statistics of the whole image, found by one
            selection per image instead of one per context.
        hdn_compat (bool): lower median and ``sum / (N + 1)`` scale, as in HDN.

    Returns:
        tuple: ``shift`` and ``scale``, each (B, K) for the K contexts; empty
        contexts get 0 and 0. Both carry the gradient of ``x`` (through the median
        pixels and the deviations).
    """
    shift, scale, _ = _center(flatten_maps(x, 'x'), contexts, is_source, hdn_compat)
    return shift, scale


def normalize_flat(
    x: Tensor,
    contexts: DepthContexts,
    is_source: bool = False,
    hdn_compat: bool = False,
    eps: float = 1e-6,
) -> Tensor:
    """:func:`normalize_in_contexts` on flattened maps.

    Args:
        x (Tensor): (B, N) map, finite at every pixel.
        contexts (DepthContexts): contexts of the B maps.
        is_source (bool): ``x`` is the map the contexts were built from.
        hdn_compat (bool): lower median and ``sum / (N + 1)`` scale, as in HDN.
        eps (float): added to the scale.

    Returns:
        Tensor: (B, L, N), 0 where a pixel lies in no context of a level.
    """
    _, scale, centered = _center(x, contexts, is_source, hdn_compat)
    # Column K (no context) gets the factor 0, so those pixels normalize to 0.
    inv = torch.cat([1 / (scale + eps), scale.new_zeros(scale.shape[0], 1)], dim=1)
    return centered * inv.gather(1, contexts.ids.flatten(1)).view_as(centered)


def normalize_in_contexts(
    x: Tensor,
    contexts: DepthContexts,
    is_source: bool = False,
    hdn_compat: bool = False,
    eps: float = 1e-6,
) -> Tensor:
    """Normalize a map in every context: ``(x - median) / (MAD + eps)``.

    Args:
        x (Tensor): (B, 1, H, W) or (B, H, W) map, finite at every pixel (set
            invalid pixels to 0 first if they may hold NaN).
        contexts (DepthContexts): contexts, usually built from the target.
        is_source (bool): ``x`` is the map the contexts were built from (see
            :func:`context_shift_scale`).
        hdn_compat (bool): lower median and ``sum / (N + 1)`` scale, as in HDN.
        eps (float): added to the scale.

    Returns:
        Tensor: (B, L, H, W), the value of each pixel normalized in its context of
        each level; 0 where the pixel lies in no context of that level.
    """
    out = normalize_flat(flatten_maps(x, 'x'), contexts, is_source, hdn_compat, eps)
    return out.view(*out.shape[:2], *contexts.shape)


def global_normalize(
    x: Tensor, mask: Optional[Tensor] = None, hdn_compat: bool = False, eps: float = 1e-6
) -> Tensor:
    """Global normalization: ``(x - median) / (MAD + eps)`` over each image.

    Args:
        x (Tensor): (B, 1, H, W) depth or disparity.
        mask (Tensor, optional): (B, 1, H, W) bool, True where valid; None = all.
        hdn_compat (bool): lower median and ``sum / (N + 1)`` scale, as in HDN.
        eps (float): added to the scale.

    Returns:
        Tensor: (B, 1, H, W) normalized map, 0 at invalid pixels.
    """
    if mask is None:
        mask = torch.ones_like(x, dtype=torch.bool)
    x = torch.where(mask, x, torch.zeros_like(x))
    contexts = global_contexts(x, mask)
    out = normalize_in_contexts(x, contexts, is_source=True, hdn_compat=hdn_compat, eps=eps)
    return out.view_as(x)


def hybrid_normalize(
    x: Tensor,
    target: Tensor,
    mask: Optional[Tensor] = None,
    grouping: str = 'range',
    levels: Sequence[int] = (1, 2, 4),
    hdn_compat: bool = False,
    eps: float = 1e-6,
) -> Tensor:
    """Hybrid (hierarchical) normalization of ``x`` in contexts built from ``target``.

    Args:
        x (Tensor): (B, 1, H, W) map to normalize (may be ``target`` itself).
        target (Tensor): (B, 1, H, W) map the contexts are built from.
        mask (Tensor, optional): (B, 1, H, W) bool, True where valid; None = all.
        grouping (str): 'range', 'quantile' or 'spatial'.
        levels (Sequence[int]): segment counts S, e.g. (1, 2, 4); ``(max(levels),)``
            gives the local normalization.
        hdn_compat (bool): reproduce the official HDN normalization.
        eps (float): added to the scale.

    Returns:
        Tensor: (B, L, H, W) with L = number of levels; 0 where a pixel lies in no
        context of a level.
    """
    if mask is None:
        mask = torch.ones_like(target, dtype=torch.bool)
    contexts = build_contexts(target, mask, 'hybrid', grouping, levels, hdn_compat)
    is_source = x is target
    x = torch.where(mask, x, torch.zeros_like(x))
    return normalize_in_contexts(x, contexts, is_source=is_source, hdn_compat=hdn_compat, eps=eps)
