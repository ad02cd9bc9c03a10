"""Normalization contexts: which pixels are normalized together.

A context is a set of valid pixels of one image over which the median and the
mean absolute deviation are taken (see :mod:`.normalization`). Contexts are built
from the target (teacher) map and shared with the prediction:

* global: one context per image, all its valid pixels;
* by value range (``'range'``): at level ``S``, ``S`` equal-width bins between the
  image's min and max;
* by quantile (``'quantile'``): at level ``S``, ``S`` bins between the quantiles
  ``i / S``, holding about the same number of pixels (ties stay together);
* by position (``'spatial'``): at level ``S``, an ``S x S`` grid of tiles.

All levels are held in one (B, L, N) tensor of context ids. Range bins need only
the target's min and max; quantile bins sort the target once (invalid pixels last)
for its quantiles. With power-of-two levels (e.g. 1, 2, 4) the value bins nest: a
coarse bin is the union of consecutive finest bins, which the medians' radix
selection uses (:mod:`.selection`).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

GROUPINGS = ('range', 'quantile', 'spatial')
# Partial sums per context in DepthContexts.sums (pixel i adds to lane i % LANES).
LANES = 32
NORMALIZATIONS = ('global', 'hybrid', 'local', 'none')


class DepthContexts:
    """Pixels grouped into normalization contexts, at several levels at once.

    Args:
        ids (Tensor): (B, L, N) integers, N = H * W (kept as int64; uint8 is cheaper
            to pass). ``ids[b, l, i]`` is the context of
            pixel ``i`` of image ``b`` at level ``l``. Contexts are numbered over all
            levels: level ``l`` owns ``offsets[l] .. offsets[l] + sizes[l] - 1``. The
            value ``num_contexts`` means "in no context at this level" (an invalid
            pixel, or one the ``hdn_compat`` rules leave out).
        sizes (tuple[int, ...]): the number of contexts of each level.
        shape (tuple[int, int]): the spatial size (H, W) of the maps.
        kind (str): 'global', 'range', 'quantile' or 'spatial'.
        nested (bool): every level's contexts are unions of equally many
            consecutive contexts of the finest level (value bins at power-of-two
            levels).

    Attributes:
        counts (Tensor): (B, K) int64, the pixels of each of the K contexts.
        levels_per_pixel (Tensor): (B, N) int64, the contexts each pixel lies in.
        lane_ids (Tensor): (B, L * N) int64, ``ids * LANES + i % LANES``: the
            index of :meth:`sums`.
    """

    def __init__(
        self,
        ids: Tensor,
        sizes: Sequence[int],
        shape: Tuple[int, int],
        kind: str,
        nested: bool = False,
    ) -> None:
        self.sizes, self.shape = tuple(sizes), tuple(shape)
        self.kind, self.nested = kind, nested
        num = self.num_contexts
        self.levels_per_pixel = (ids < num).sum(1)  # on small ids: less to read
        self.ids = ids.long()
        lane = torch.arange(ids.shape[-1], device=ids.device) % LANES
        self.lane_ids = torch.add(lane, self.ids, alpha=LANES).flatten(1)
        self.counts = self.sums(torch.ones(1, 1, dtype=torch.long, device=ids.device))

    @property
    def num_contexts(self) -> int:
        return sum(self.sizes)

    @property
    def offsets(self) -> Tuple[int, ...]:
        return _level_offsets(self.sizes)

    def sums(self, values: Tensor) -> Tensor:
        """(B, K) per-context sums of (B, L, N) values (or a (1, 1) value broadcast).

        One :func:`bin_sums` into ``LANES`` partial sums per context, then their
        sum: neighbouring pixels mostly share a context, and adding them into one
        bin makes every add wait for the one before (4x slower on the CPU).
        """
        return lane_sums(self.lane_ids, values, self.num_contexts)

    def member(self) -> Tensor:
        """(B, L, N) bool: whether each pixel lies in a context of each level."""
        return self.ids < self.num_contexts


def flatten_maps(x: Tensor, name: str = 'x') -> Tensor:
    """(B, 1, H, W), (B, H, W) or (B, N) -> (B, N)."""
    if x.dim() in (2, 3) or (x.dim() == 4 and x.shape[1] == 1):
        return x.flatten(1)
    raise ValueError(
        f'{name} must have shape (B, 1, H, W), (B, H, W) or (B, N), got {tuple(x.shape)}'
    )


def _spatial_shape(x: Tensor) -> Tuple[int, int]:
    return int(x.shape[-2]), int(x.shape[-1])


@torch.library.custom_op('mmdistilldepth::argsort_rows', mutates_args=())
def _argsort_rows(keys: Tensor) -> Tensor:
    return torch.sort(keys, dim=1).indices


@_argsort_rows.register_kernel('cpu')
def _argsort_rows_cpu(keys: Tensor) -> Tensor:
    # numpy's vectorized (SIMD) argsort: 4-5x faster than torch.sort on the CPU.
    return torch.from_numpy(np.argsort(keys.numpy(), axis=1)).to(torch.long)


@_argsort_rows.register_fake
def _(keys: Tensor) -> Tensor:
    return torch.empty_like(keys, dtype=torch.long)


def argsort_rows(keys: Tensor) -> Tensor:
    """Ascending order (B, N) of each row of a (B, N) tensor (ties in any order).

    One operator, ``mmdistilldepth::argsort_rows``, with fixed output shape: on the
    CPU numpy's vectorized argsort (0.5 ms against 2.7 ms for ``torch.sort`` on
    4 x 112 x 112 float32 values, 20 ms against 92 ms on 4 x 560 x 560, one
    thread), on every other device ``torch.sort``. It reads nothing back to the host
    and ``torch.compile(fullgraph=True)`` keeps it in the graph. No gradient.
    """
    return _argsort_rows(keys.detach().contiguous())


@torch.library.custom_op('mmdistilldepth::bin_sums', mutates_args=())
def _bin_sums(index: Tensor, values: Tensor, bins: int) -> Tensor:
    out = values.new_zeros(index.shape[0], bins)
    return out.scatter_add_(1, index, values.expand(index.shape))


@_bin_sums.register_fake
def _(index: Tensor, values: Tensor, bins: int) -> Tensor:
    return values.new_empty(index.shape[0], bins)


def _bin_sums_setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(inputs[0])


def _bin_sums_backward(ctx, grad: Tensor):
    (index,) = ctx.saved_tensors
    return None, grad.gather(1, index), None


_bin_sums.register_autograd(_bin_sums_backward, setup_context=_bin_sums_setup)


def bin_sums(index: Tensor, values: Tensor, bins: int) -> Tensor:
    """Per row, the sums of ``values`` falling in each of ``bins`` bins.

    ``out[b, k] = sum(values[b, i] for i where index[b, i] == k)``: a
    ``scatter_add`` of (B, M) int64 ``index`` and ``values`` (or a (1, 1) value
    broadcast, e.g. ones for counts) into (B, bins). One operator,
    ``mmdistilldepth::bin_sums``, so that ``torch.compile`` calls torch's scatter
    kernel instead of generating one atomic add per element (10-30x slower on the
    CPU). Differentiable in ``values``.
    """
    return _bin_sums(index, values, bins)


def lane_sums(lane_ids: Tensor, values: Tensor, num: int) -> Tensor:
    """(B, K) sums of (B, L, N) ``values`` by :attr:`DepthContexts.lane_ids`."""
    values = values.flatten(1) if values.dim() > 2 else values
    lanes = bin_sums(lane_ids, values, (num + 1) * LANES)
    return lanes.view(-1, num + 1, LANES)[:, :num].sum(-1)


def masked_sort(x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Sort each image's valid values in ascending order, invalid pixels last.

    Args:
        x (Tensor): (B, 1, H, W), (B, H, W) or (B, N) values.
        mask (Tensor): bool, same shape, True where valid.

    Returns:
        tuple: ``values`` (B, N) sorted values (``+inf`` at the invalid tail),
        ``order`` (B, N) int64 the pixel index of each sorted value, and
        ``n_valid`` (B,) int64 the number of valid pixels. No gradient.
    """
    keys, order, n_valid = _masked_order(x, mask)
    return keys.gather(1, order), order, n_valid


def _masked_order(x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`masked_sort` without gathering the sorted values: returns the unsorted
    ``keys`` (B, N) (``+inf`` where invalid), ``order`` and ``n_valid``.
    """
    x, mask = flatten_maps(x, 'x').detach(), flatten_maps(mask, 'mask')
    keys = torch.where(mask, x, float('inf'))
    return keys, argsort_rows(keys), mask.sum(1)


def _bin_ids(
    x: Tensor, mask: Tensor, lo: Tensor, hi: Optional[Tensor], offset: int, none: int
) -> Tensor:
    """Context of each pixel for the bins of one level.

    Args:
        x (Tensor): (B, N) values.
        mask (Tensor): (B, N) bool, True where valid.
        lo (Tensor): (B, S) nondecreasing left edges; bin ``i`` is
            ``lo[i] <= x < lo[i + 1]`` (the last bin is closed). Valid values are
            at least ``lo[0]``.
        hi (Tensor, optional): (B, S) right edges that ``x < hi[i]`` must also meet.
        offset (int): number of the level's first context.
        none (int): the id meaning "in no context".

    Returns:
        Tensor: (B, N) ids ``offset + i``, or ``none``; uint8 when ``none < 255``
        (in eager), else int32 (small integers make these passes ~3x cheaper than
        int64).
    """
    # The number of left edges above lo[0] that x reaches: S - 1 vectorized
    # comparisons (S <= 4 in practice) beat a per-pixel binary search. uint8 in
    # eager (2.0 ms against 5.1 for int32 on 4 x 560 x 560); int32 under
    # torch.compile, whose CPU code for uint8 beside float masks is 10x slower
    # (9.2 ms against 0.9).
    small = torch.uint8 if none < 255 and not torch.compiler.is_compiling() else torch.int32
    ids = torch.zeros_like(x, dtype=small)
    for i in range(1, lo.shape[1]):
        ids += x >= lo[:, i : i + 1]
    inside = mask
    if hi is not None:
        inside = inside & (x < hi.gather(1, ids.long()))
    return torch.where(inside, ids + offset, none)


def _level_offsets(sizes: Sequence[int]) -> Tuple[int, ...]:
    """Number of the first context of each level."""
    return tuple(sum(sizes[:i]) for i in range(len(sizes)))


def _nests(levels: Sequence[int]) -> bool:
    """Whether value bins at these levels nest: all powers of two.

    Their edges ``min + (max - min) * i * (1 / S)`` (and the quantile ranks) then
    coincide exactly, in floating point, with every ``2^k``-th edge of the finest
    level, since scaling by a power of two is exact.
    """
    return all(s & (s - 1) == 0 for s in levels)


def _check_levels(levels: Sequence[int]) -> Tuple[int, ...]:
    levels = tuple(int(s) for s in levels)
    if not levels or min(levels) < 1:
        raise ValueError(f'levels must be positive segment counts such as (1, 2, 4), got {levels}')
    return levels


def global_contexts(target: Tensor, mask: Tensor) -> DepthContexts:
    """One context per image: all its valid pixels.

    Args:
        target (Tensor): (B, 1, H, W) map the contexts are built from (unused: one
            context holds all valid pixels).
        mask (Tensor): (B, 1, H, W) bool, True where valid.

    Returns:
        DepthContexts: one level with one context.
    """
    valid = flatten_maps(mask, 'mask')
    ids = (~valid).long().unsqueeze(1)
    return DepthContexts(ids, (1,), _spatial_shape(mask), 'global', nested=True)


def range_edges(
    d_min: Tensor, d_max: Tensor, segments: int, hdn_compat: bool = False
) -> Tuple[Tensor, Optional[Tensor]]:
    """Left edges (B, S) of the S equal-width bins of ``[d_min, d_max]`` (each (B, 1)),
    and with ``hdn_compat`` HDN's right edges (else None): see :func:`range_contexts`.
    """
    span = d_max - d_min
    bin_size = 1.0 / segments
    idx = torch.arange(segments, device=d_min.device, dtype=d_min.dtype)
    # Same expression order as HDN: min + (max - min) * i * b.
    lo = d_min + span * idx * bin_size
    hi = d_min + span * (idx + 1) * bin_size + 1e-30 if hdn_compat else None
    return lo, hi


def range_contexts(
    target: Tensor, mask: Tensor, levels: Sequence[int] = (1, 2, 4), hdn_compat: bool = False
) -> DepthContexts:
    """Contexts by value range: at level S, S equal-width bins of the target's range.

    Bin ``i`` of an image spans ``[min + (max - min) * i / S, min + (max - min) *
    (i + 1) / S)``, min and max over its valid pixels; the default closes the top bin.
    With ``hdn_compat`` the edges are computed exactly as HDN does (``hi`` gets
    ``+ 1e-30`` and the top bin stays open, so the maximum is usually left out).

    Args:
        target (Tensor): (B, 1, H, W) teacher map.
        mask (Tensor): (B, 1, H, W) bool, True where valid.
        levels (Sequence[int]): segment counts S, e.g. (1, 2, 4).
        hdn_compat (bool): reproduce the official HDN bin edges.

    Returns:
        DepthContexts: ``sum(levels)`` contexts.
    """
    levels = _check_levels(levels)
    x, valid = flatten_maps(target, 'target').detach(), flatten_maps(mask, 'mask')
    empty = ~valid.any(1, keepdim=True)
    d_min = torch.where(valid, x, float('inf')).amin(1, keepdim=True).masked_fill(empty, 0)
    d_max = torch.where(valid, x, -float('inf')).amax(1, keepdim=True).masked_fill(empty, 0)
    level_ids = []
    for segments, offset in zip(levels, _level_offsets(levels)):
        lo, hi = range_edges(d_min, d_max, segments, hdn_compat)
        level_ids.append(_bin_ids(x, valid, lo, hi, offset, sum(levels)))
    ids = torch.stack(level_ids, dim=1)
    return DepthContexts(ids, levels, _spatial_shape(mask), 'range', _nests(levels))


def sorted_quantile(values: Tensor, n_valid: Tensor, q: Sequence[float]) -> Tensor:
    """``torch.nanquantile`` (linear) of sorted rows, reusing the sort.

    Same arithmetic as torch, bit for bit: ``q`` rounded to the values' dtype, the
    rank ``q * (n - 1)`` in float64, then a lerp between the two neighbours.

    Args:
        values (Tensor): (B, N) ascending rows, valid entries first.
        n_valid (Tensor): (B,) number of valid entries per row.
        q (Sequence[float]): Q quantiles in [0, 1].

    Returns:
        Tensor: (B, Q) quantiles (0 for a row without valid entries).
    """
    below, above, weight = quantile_ranks(n_valid, q, values.dtype)
    return lerp_quantiles(values.gather(1, below), values.gather(1, above), weight, n_valid)


def quantile_ranks(
    n_valid: Tensor, q: Sequence[float], dtype: torch.dtype
) -> Tuple[Tensor, Tensor, Tensor]:
    """The 0-based ranks (B, Q) each linear quantile lies between, and the weight of
    the upper one, computed as ``torch.nanquantile`` does (see :func:`sorted_quantile`).
    """
    q_t = torch.tensor(q, dtype=dtype, device=n_valid.device).double()
    rank = q_t * (n_valid - 1).clamp(min=0).unsqueeze(1)
    below, above = rank.long(), rank.ceil().long()
    return below, above, (rank - below).to(dtype)


def lerp_quantiles(below: Tensor, above: Tensor, weight: Tensor, n_valid: Tensor) -> Tensor:
    """Quantiles (B, Q) from the order statistics at :func:`quantile_ranks`."""
    out = torch.lerp(below, above, weight)
    return out.masked_fill((n_valid == 0).unsqueeze(1), 0)


def quantile_contexts(
    target: Tensor, mask: Tensor, levels: Sequence[int] = (1, 2, 4), hdn_compat: bool = False
) -> DepthContexts:
    """Contexts by quantile: at level S, bins ``[q(i / S), q((i + 1) / S))``.

    Quantiles are linear (``torch.nanquantile``) over the image's valid target
    values; each bin holds about the same number of pixels (ties stay together).
    The default closes the top bin; with ``hdn_compat`` it stays open as in HDN,
    so the pixels equal to the maximum lie in no context.

    Args:
        target (Tensor): (B, 1, H, W) teacher map.
        mask (Tensor): (B, 1, H, W) bool, True where valid.
        levels (Sequence[int]): segment counts S, e.g. (1, 2, 4).
        hdn_compat (bool): reproduce the official HDN bins.

    Returns:
        DepthContexts: ``sum(levels)`` contexts.
    """
    levels = _check_levels(levels)
    values, _, n_valid = masked_sort(target, mask)
    x, valid = flatten_maps(target, 'target').detach(), flatten_maps(mask, 'mask')
    level_ids = []
    for segments, offset in zip(levels, _level_offsets(levels)):
        bin_size = 1.0 / segments
        edges = sorted_quantile(values, n_valid, [i * bin_size for i in range(segments + 1)])
        hi = edges[:, 1:] if hdn_compat else None
        level_ids.append(_bin_ids(x, valid, edges[:, :-1], hi, offset, sum(levels)))
    ids = torch.stack(level_ids, dim=1)
    return DepthContexts(ids, levels, _spatial_shape(mask), 'quantile', _nests(levels))


def _tile_index(size: int, segments: int, hdn_compat: bool, device: torch.device) -> Tensor:
    """Tile of each of ``size`` positions; tile ``i`` ends at ``int((i + 1) / S * size)``.

    Returns ``segments`` for positions beyond the last end, which only happens with
    ``hdn_compat`` when ``S * (1 / S)`` rounds below 1 (e.g. S = 49); the default
    ends the last tile at ``size``.
    """
    bin_size = 1.0 / segments
    ends = [int((i + 1) * bin_size * size) for i in range(segments)]
    if not hdn_compat:
        ends[-1] = size
    ends = torch.tensor(ends, device=device)
    return torch.searchsorted(ends, torch.arange(size, device=device), right=True)


def spatial_contexts(
    mask: Tensor, levels: Sequence[int] = (1, 2, 4), hdn_compat: bool = False
) -> DepthContexts:
    """Contexts by position: at level S, an S x S grid of tiles (row-major).

    Args:
        mask (Tensor): (B, 1, H, W) bool, True where valid.
        levels (Sequence[int]): tiles per side S, e.g. (1, 2, 4).
        hdn_compat (bool): follow HDN, which sizes the tiles of both axes by the
            width and so only works on square maps: non-square maps raise.

    Returns:
        DepthContexts: ``sum(S * S)`` contexts.
    """
    levels = _check_levels(levels)
    height, width = _spatial_shape(mask)
    if hdn_compat and height != width:
        raise ValueError(
            f'spatial contexts with hdn_compat=True follow HDN, which '
            f'only supports square maps; got {height}x{width}. Use '
            f'hdn_compat=False for non-square maps.'
        )
    valid = flatten_maps(mask, 'mask')
    sizes = tuple(s * s for s in levels)
    level_ids = []
    for segments, offset in zip(levels, _level_offsets(sizes)):
        rows = _tile_index(height, segments, hdn_compat, valid.device)[:, None]
        cols = _tile_index(width, segments, hdn_compat, valid.device)[None, :]
        inside = ((rows < segments) & (cols < segments)).flatten()
        tile = (rows * segments + cols + offset).flatten()
        level_ids.append(torch.where(valid & inside, tile, sum(sizes)))
    ids = torch.stack(level_ids, dim=1)
    return DepthContexts(ids, sizes, (height, width), 'spatial')


def build_contexts(
    target: Tensor,
    mask: Tensor,
    normalization: str = 'hybrid',
    grouping: str = 'range',
    levels: Sequence[int] = (1, 2, 4),
    hdn_compat: bool = False,
) -> Optional[DepthContexts]:
    """The contexts of a normalization, built from the target (teacher) map.

    Args:
        target (Tensor): (B, 1, H, W) teacher map.
        mask (Tensor): (B, 1, H, W) bool, True where valid.
        normalization (str): 'global', 'hybrid', 'local' (finest level only) or
            'none' (returns None).
        grouping (str): 'range', 'quantile' or 'spatial' (hybrid and local only).
        levels (Sequence[int]): segment counts S of the hybrid levels.
        hdn_compat (bool): reproduce the official HDN contexts.

    Returns:
        DepthContexts or None.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f'normalization must be one of {NORMALIZATIONS}, got {normalization!r}')
    if grouping not in GROUPINGS:
        raise ValueError(f'grouping must be one of {GROUPINGS}, got {grouping!r}')
    if normalization == 'none':
        return None
    if normalization == 'global':
        return global_contexts(target, mask)
    levels = _check_levels(levels)
    if normalization == 'local':
        levels = (max(levels),)
    builder = {'range': range_contexts, 'quantile': quantile_contexts}.get(grouping)
    if builder is None:
        return spatial_contexts(mask, levels, hdn_compat)
    return builder(target, mask, levels, hdn_compat)
