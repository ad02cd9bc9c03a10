"""Exact order statistics of many contexts at once, without sorting: radix selection.

The medians of the normalizations are order statistics of the pixels of each context.
Sorting gives them in ``O(N log N)`` per map; radix selection gives exactly the same
values in ``O(N)`` per pass, with fixed shapes and no value read back to the host:

1. every value is mapped to an integer key with the same order (the float's bits,
   with the magnitude bits of negative values flipped: :func:`order_keys`);
2. one pass per digit of the key, from the top: a histogram of the digit per
   (context, wanted rank) over the pixels whose higher digits equal the digits
   already chosen for that rank (one ``scatter_add`` per level), its cumulative sum,
   and the digit holding the wanted rank. float32 keys take two passes of 16 bits,
   float64 keys four.

Optionally the last pass also records, per (context, digit), the largest pixel index
with that full key, so the result names a *pixel* holding the order statistic (with
ties, one of them), through which a median's gradient can flow.

float32 keys (:func:`_select_two_pass`, the fast path) match only the lower middle
rank in the second pass: the upper one shares its high half or is the smallest key of
the next occupied one, which the first pass records. float64 keys (the exact
reference of the tests) take the general path, one histogram per (context, rank).
Histograms go through :func:`~.contexts.bin_sums` (torch's scatter kernel, also under
``torch.compile``).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from .contexts import bin_sums

# Maps of at least this many pixels per image take 16-bit digits (float32: two passes,
# histograms of 65536 bins per context); smaller maps 10- and 11-bit digits, whose
# histograms stay small next to the map (a 16-bit pass over 112 x 112 pixels would
# zero and scan 65536 bins per context: 112 x 112 float32 hybrid loss 49 ms against
# 17 ms with three passes of 11, 11, 10 bits, and 19 ms with four of 8 bits).
WIDE_DIGITS_FROM = 1 << 17
NARROW_DIGITS = {32: (11, 11, 10), 64: (11, 11, 11, 11, 10, 10)}
_MAGNITUDE = {torch.int32: 0x7FFFFFFF, torch.int64: 0x7FFFFFFFFFFFFFFF}
_KEY_DTYPE = {torch.float32: torch.int32, torch.float64: torch.int64}
_FLOAT_DTYPE = {torch.int32: torch.float32, torch.int64: torch.float64}


def order_keys(x: Tensor) -> Tensor:
    """Integer keys ordered as the values: int32 for float32, int64 for float64.

    ``-0.0`` gets the key just below ``+0.0``; the values must not be NaN.
    """
    if x.dtype not in _KEY_DTYPE:
        raise TypeError(f'order_keys takes float32 or float64 values, got {x.dtype}')
    bits = x.view(_KEY_DTYPE[x.dtype])
    return torch.where(bits < 0, bits ^ _MAGNITUDE[bits.dtype], bits)


def key_values(keys: Tensor) -> Tensor:
    """The values of keys made by :func:`order_keys` (its inverse)."""
    bits = torch.where(keys < 0, keys ^ _MAGNITUDE[keys.dtype], keys)
    return bits.view(_FLOAT_DTYPE[keys.dtype])


def _choose_digits(hist: Tensor, source: Tensor, ranks: Tensor) -> Tuple[Tensor, Tensor]:
    """The digit holding each 1-based rank, and the rank left inside that digit.

    Args:
        hist (Tensor): (B, K, R, D) int32 counts per digit of R histograms.
        source (Tensor): (B, K, Q) int64, the histogram (< R) of each wanted rank.
        ranks (Tensor): (B, K, Q) int32 1-based ranks; out-of-range ranks give some
            digit.

    Returns:
        tuple: ``digit`` (B, K, Q) int64 and ``rank`` (B, K, Q) within it. Wide
        digits are found in two steps (the group of 256 digits, then the digit), so
        the big histogram is read once.
    """
    bsz, num, hists, nd = hist.shape
    sub = min(nd, 256)
    groups = hist.view(bsz, num, hists, nd // sub, sub)
    coarse = groups.sum(-1, dtype=torch.int32) if sub < nd else hist
    coarse = coarse.gather(2, source.unsqueeze(-1).expand(-1, -1, -1, coarse.shape[-1]))
    group, ranks = _choose(coarse, ranks)
    if sub == nd:
        return group, ranks
    rows = groups.view(bsz, num, hists * (nd // sub), sub)
    index = (source * (nd // sub) + group).unsqueeze(-1).expand(-1, -1, -1, sub)
    digit, ranks = _choose(rows.gather(2, index), ranks)
    return group * sub + digit, ranks


def _choose(hist: Tensor, ranks: Tensor) -> Tuple[Tensor, Tensor]:
    """:func:`_choose_digits` on one histogram per rank, (..., D) and (...)."""
    cum = hist.cumsum(-1, dtype=torch.int32)
    digit = (cum < ranks.unsqueeze(-1)).sum(-1).clamp(max=hist.shape[-1] - 1)
    below = cum.gather(-1, digit.unsqueeze(-1)) - hist.gather(-1, digit.unsqueeze(-1))
    return digit, ranks - below.squeeze(-1)


def _select_generic(
    keys: Tensor,
    ids: Sequence[Tensor],
    sizes: Sequence[int],
    ranks: Tensor,
    nested: bool = False,
    with_pixels: bool = False,
) -> Tuple[Tensor, Optional[Tensor]]:
    """:func:`select_ranks` for any key width: one slot per (context, rank).

    Arguments and results as :func:`select_ranks`, which checks them; with Q = 2 the
    ranks must be nondecreasing along Q.
    """
    bsz, n = keys.shape
    num, q = sum(sizes), ranks.shape[-1]
    device = keys.device
    slots = num * q + 1  # (context, rank) pairs, then one slot for the rest
    dump = slots - 1
    slot_of = [torch.where(i < num, i * q, dump) for i in ids]  # the lower rank's slot
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    bits = 32 if keys.dtype == torch.int32 else 64
    if n >= WIDE_DIGITS_FROM:
        widths = (16,) * (bits // 16)
    else:
        widths = NARROW_DIGITS[bits]
    ones = torch.ones(1, 1, dtype=torch.int32, device=device)
    never = torch.iinfo(keys.dtype).min  # a prefix no key has after a right shift
    chosen = torch.zeros(bsz, num, q, dtype=keys.dtype, device=device)
    ranks = ranks.to(torch.int32)
    own = torch.arange(q, device=device).expand(bsz, num, q)
    pixels = None
    shift = sum(widths)
    for p, width in enumerate(widths):
        top, shift, nd = shift, shift - width, 1 << width
        last = p == len(widths) - 1
        digit = ((keys >> shift) & (nd - 1)).long()
        if p == 0:
            digit = digit ^ (nd >> 1)  # top digit of signed keys: sign bit flipped
        if p == 0 and nested:
            # Histogram the finest level; a coarse context's is the sum of its own.
            fine = max(range(len(sizes)), key=lambda i: sizes[i])
            size = sizes[fine]
            local = torch.where(ids[fine] < num, ids[fine] - offsets[fine], size)
            hist = bin_sums(torch.add(digit, local, alpha=nd), ones, (size + 1) * nd)
            hist = _merge_children(hist.view(bsz, size + 1, nd)[:, :size], sizes, torch.add)
            hist = hist.unsqueeze(2)
        else:
            hist = keys.new_zeros(bsz, slots * nd, dtype=torch.int32)
            if with_pixels and last:
                index = torch.arange(n, device=device, dtype=torch.int32).expand(bsz, n)
                pixels = torch.full_like(hist, -1)
            if p > 0:
                prefix = keys >> top
                pre = chosen >> top
                if q == 2:  # the upper rank matches only where its prefix differs
                    pre[..., 1].masked_fill_(pre[..., 1] == pre[..., 0], never)
                pre = torch.cat([pre, pre.new_full((bsz, 1, q), never)], 1)
            for level_ids, slot in zip(ids, slot_of):
                if p > 0:
                    match = prefix == pre[..., 0].gather(1, level_ids)
                    if q == 2:
                        upper = prefix == pre[..., 1].gather(1, level_ids)
                        slot = slot + upper
                        match = match | upper
                    slot = torch.where(match, slot, dump)
                bins = torch.add(digit, slot, alpha=nd)
                hist = hist + bin_sums(bins, ones, slots * nd)
                if pixels is not None:
                    pixels.scatter_reduce_(1, bins, index, 'amax')
            hist = hist.view(bsz, slots, nd)[:, : slots - 1].view(bsz, num, q, nd)
            if p == 0:
                hist = hist[:, :, :1]
        source = own
        if p == 0:
            source = torch.zeros_like(own)
        elif q == 2:
            # Where both ranks share their prefix, every pixel went to the lower slot.
            same = (chosen[..., 0] >> top) == (chosen[..., 1] >> top)
            source = own.masked_fill(same.unsqueeze(-1), 0)
        digit_q, ranks = _choose_digits(hist, source, ranks)
        if p == 0:
            digit_q = digit_q ^ (nd >> 1)
            chosen = (digit_q - ((digit_q >> (width - 1)) << width)).to(keys.dtype) << shift
        else:
            chosen = chosen | (digit_q.to(keys.dtype) << shift)
        if pixels is not None:
            table = pixels.view(bsz, slots, nd)[:, : slots - 1].view(bsz, num, q * nd)
            pixels = table.gather(-1, source * nd + digit_q).clamp(min=0).long()
    return chosen, pixels


def select_ranks(
    keys: Tensor,
    ids: Sequence[Tensor],
    sizes: Sequence[int],
    ranks: Tensor,
    nested: bool = False,
    with_pixels: bool = False,
) -> Tuple[Tensor, Optional[Tensor]]:
    """Keys (and pixels) of the order statistics of given ranks in every context.

    Args:
        keys (Tensor): (B, N) int32 or int64 keys from :func:`order_keys`.
        ids (Sequence[Tensor]): per level, (B, N) int64 context ids numbered over
            all levels (level ``l`` owns ``sum(sizes[:l]) ..``), ``K = sum(sizes)``
            meaning "in no context".
        sizes (Sequence[int]): the number of contexts of each level.
        ranks (Tensor): (B, K, Q) 1-based ranks within each context; Q is 1, or 2
            with the second rank equal to the first or one above it (the two middle
            ranks). Out-of-range ranks (empty contexts) give an arbitrary key and
            pixel.
        nested (bool): each level's contexts are unions of equally many consecutive
            contexts of the finest level (nested value bins); the first pass then
            histograms the finest level only.
        with_pixels (bool): also return a pixel holding each order statistic.

    Returns:
        tuple: ``selected`` (B, K, Q) keys, and ``pixels`` (B, K, Q) int64 (with
        ties, one of the pixels holding the key) or None.
    """
    if ranks.shape[-1] not in (1, 2):
        raise ValueError(f'select_ranks takes 1 or 2 ranks per context, got {ranks.shape[-1]}')
    if keys.dtype == torch.int32 and keys.shape[1] >= WIDE_DIGITS_FROM:
        return _select_two_pass(keys, ids, sizes, ranks, nested, with_pixels)
    return _select_generic(keys, ids, sizes, ranks, nested, with_pixels)


def _merge_children(table: Tensor, sizes: Sequence[int], merge) -> Tensor:
    """(B, F, D) tables of the F finest contexts -> (B, K, D) of all contexts.

    Context ``c`` of a level of ``S`` contexts merges finest contexts
    ``c * F / S .. (c + 1) * F / S - 1``. A loop of elementwise merges: reducing the
    middle dimension of a strided view is far slower on the CPU.
    """
    bsz, fine, nd = table.shape
    parts = []
    for s in sizes:
        groups = table.view(bsz, s, fine // s, nd)
        part = groups[:, :, 0]
        for j in range(1, fine // s):
            part = merge(part, groups[:, :, j])
        parts.append(part)
    return torch.cat(parts, 1)


def _select_two_pass(
    keys: Tensor,
    ids: Sequence[Tensor],
    sizes: Sequence[int],
    ranks: Tensor,
    nested: bool,
    with_pixels: bool,
) -> Tuple[Tensor, Optional[Tensor]]:
    """:func:`select_ranks` of int32 keys in two passes of 16 bits.

    Only the lower rank's high half is matched in the second pass. The upper one
    shares it, or (its high half differs) is the smallest key of the next occupied
    high half: the first pass records, per (context, high half), the smallest
    ``low half << 32 | pixel``.
    """
    bsz, n = keys.shape
    num, q = sum(sizes), ranks.shape[-1]
    device = keys.device
    nd, rows = 1 << 16, num + 1  # per image: one histogram row per context, one for none
    ones = torch.ones(1, 1, dtype=torch.int32, device=device)
    ranks = ranks.to(torch.int32)
    high = keys >> 16
    low = (keys & (nd - 1)).long()
    levels = range(len(sizes))
    first = [max(levels, key=lambda i: sizes[i])] if nested else list(levels)

    # Pass 1: the high halves, per context.
    digit = (high + (nd >> 1)).long()  # the signed high half, made >= 0
    bins = [torch.add(digit, ids[level], alpha=nd) for level in first]
    hist = sum(bin_sums(b, ones, rows * nd) for b in bins).view(bsz, rows, nd)[:, :num]
    least = None
    if q == 2:
        low_pixel = low << 32
        if with_pixels:
            low_pixel = low_pixel | torch.arange(n, device=device)
        least = torch.full((bsz, rows * nd), torch.iinfo(torch.int64).max, device=device)
        for b in bins:
            least.scatter_reduce_(1, b, low_pixel, 'amin')
        least = least.view(bsz, rows, nd)[:, :num]
    if nested:
        fine = first[0]
        size, offset = sizes[fine], sum(sizes[:fine])
        hist = _merge_children(hist[:, offset : offset + size], sizes, torch.add)
        if least is not None:
            least = _merge_children(least[:, offset : offset + size], sizes, torch.minimum)
    source = torch.zeros(bsz, num, q, dtype=torch.int64, device=device)
    digit_hi, rest = _choose_digits(hist.unsqueeze(2), source, ranks)
    high_q = digit_hi - (nd >> 1)  # (B, K, Q) the chosen high halves

    # Pass 2: the low halves among the pixels whose high half is the lower rank's.
    # The bins of all levels go into one buffer: one histogram, zeroed once.
    table = torch.cat([high_q[..., 0], high_q.new_full((bsz, 1), nd)], 1).to(keys.dtype)
    bins = []
    for level_ids in ids:
        match = high == table.gather(1, level_ids)
        bins.append(torch.add(low, torch.where(match, level_ids, num), alpha=nd))
    bins = torch.cat(bins, 1) if len(bins) > 1 else bins[0]
    hist = bin_sums(bins, ones, rows * nd).view(bsz, rows, nd)[:, :num].unsqueeze(2)
    pixels = None
    if with_pixels:
        index = torch.arange(n, device=device, dtype=torch.int32).repeat(len(ids))
        pixels = torch.full((bsz, rows * nd), -1, dtype=torch.int32, device=device)
        pixels.scatter_reduce_(1, bins, index.expand_as(bins), 'amax')
    digit_lo, _ = _choose_digits(hist, source, rest)
    selected = (high_q << 16) | digit_lo
    if with_pixels:
        table = pixels.view(bsz, rows, nd)[:, :num]
        pixels = table.gather(2, digit_lo).long()
    if q == 2:
        # The upper rank in a later high half: the smallest key there.
        later = digit_hi[..., 1] != digit_hi[..., 0]
        first_key = least.gather(2, digit_hi[..., 1:])[..., 0]
        upper = (high_q[..., 1] << 16) | (first_key >> 32)
        selected[..., 1] = torch.where(later, upper, selected[..., 1])
        if with_pixels:
            pixel = first_key & 0xFFFFFFFF
            pixels[..., 1] = torch.where(later, pixel, pixels[..., 1])
    if pixels is not None:
        pixels = pixels.clamp(0, n - 1)  # empty contexts
    return selected.to(keys.dtype), pixels


def select_row_ranks(keys: Tensor, valid: Tensor, ranks: Tensor) -> Tensor:
    """Keys of the order statistics at given ranks among each row's valid keys.

    The fast path of a map's medians in contexts that are value intervals of that
    same map (range and quantile bins of the target, or the whole image): every
    context then is a run of the row's sorted valid values, so its middle values are
    order statistics of the whole row at ranks ``start + middle``, and one histogram
    per row serves all contexts of all levels. Two passes of 16 bits: the high
    halves of the row, then the low halves of the pixels whose high half holds a
    wanted rank (one histogram per such high half, at most R).

    Args:
        keys (Tensor): (B, N) int32 keys from :func:`order_keys`.
        valid (Tensor): (B, N) bool, the pixels to rank.
        ranks (Tensor): (B, R) 1-based ranks among each row's valid keys;
            out-of-range ranks give an arbitrary key.

    Returns:
        Tensor: (B, R) int32 keys.
    """
    if keys.dtype != torch.int32:
        raise TypeError(f'select_row_ranks takes int32 keys, got {keys.dtype}')
    bsz, n = keys.shape
    wanted = ranks.shape[1]
    nd = 1 << 16
    ones = torch.ones(1, 1, dtype=torch.int32, device=keys.device)
    # Pass 1: the high halves (signed, made >= 0); invalid pixels go to column nd.
    high = ((keys >> 16) + (nd >> 1)).long().masked_fill_(~valid, nd)
    hist = bin_sums(high, ones, nd + 1)[:, :nd].view(bsz, 1, 1, nd)
    source = torch.zeros(bsz, 1, wanted, dtype=torch.int64, device=keys.device)
    digit_hi, rest = _choose_digits(hist, source, ranks.to(torch.int32).unsqueeze(1))
    digit_hi = digit_hi.squeeze(1)
    # Pass 2: each chosen high half gets the histogram slot of the first rank in it;
    # every other pixel (column nd of the table included) goes to slot R, dropped.
    slots = torch.full((bsz, nd + 1), wanted, dtype=torch.int64, device=keys.device)
    order = torch.arange(wanted, device=keys.device).expand(bsz, wanted)
    slots.scatter_reduce_(1, digit_hi, order, 'amin')
    low = (keys & (nd - 1)).long()
    bins = torch.add(low, slots.gather(1, high), alpha=nd)
    hist = bin_sums(bins, ones, (wanted + 1) * nd).view(bsz, 1, wanted + 1, nd)
    source = slots.gather(1, digit_hi).unsqueeze(1)
    digit_lo, _ = _choose_digits(hist, source, rest)
    return (((digit_hi - (nd >> 1)) << 16) | digit_lo.squeeze(1)).to(torch.int32)
