"""The compiled CPU path of the normalized L1 loss.

The torch implementation (:mod:`.contexts`, :mod:`.normalization`) sorts both maps
and runs a few dozen passes over ``B x levels x N`` tensors, forward and backward:
40-75x the time of a plain masked L1 on the CPU. This path computes the same loss
and gradient with the C kernels of ``csrc/normalized_l1.c`` in a few passes over
each image and no sort: the finest contexts from the teacher, exact medians by a
histogram select, the scales from the same histograms, the loss in one pass, and
the gradient in closed form (a table lookup per pixel, no autograd graph); for
float32 the main loops have AVX2 variants, used where the CPU has AVX2. Images run on ``torch.get_num_threads()`` threads.
docs/losses.md has the design and the measurements (hybrid: 2.3-2.9x).

The C file is compiled at first use with the system C compiler (``cc``, or ``$CC``)
into ``$MDD_CACHE_DIR`` (default ``~/.cache/mmdistilldepth``), once per source
version; without a compiler the loss warns once and uses the torch path. The two
paths agree to round-off (the tests compare them in float64 on every
normalization, grouping and ``hdn_compat`` setting); only the sums are accumulated
in double here.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import os.path as osp
import subprocess
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence

import torch
from torch import Tensor

from .contexts import (_check_levels, _tile_index, lerp_quantiles, quantile_ranks,
                       range_edges)

SOURCE = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc', 'normalized_l1.c')
CFLAGS = ('-O3', '-std=c99', '-fPIC', '-shared', '-ffp-contract=off')
_REALS = {torch.float32: 'float', torch.float64: 'double'}
_lock = threading.Lock()
_libraries: dict = {}
_pool: Optional[ThreadPoolExecutor] = None
#: use the AVX2 variants of the float32 kernels where the CPU has AVX2 (tests turn
#: them off to check the scalar code, which float64 and other CPUs run)
SIMD = True


class NativeUnavailable(RuntimeError):
    """The compiled path cannot run (no compiler, or the build failed)."""


class _Fallback(Exception):
    """This input needs the torch path (e.g. a non-finite prediction)."""


def cache_dir() -> str:
    return os.environ.get('MDD_CACHE_DIR') or osp.join(osp.expanduser('~'), '.cache',
                                                       'mmdistilldepth')


def _compile(real: str) -> str:
    """Build the kernels for ``real`` ('float' or 'double'); returns the library path."""
    with open(SOURCE, 'rb') as f:
        source = f.read()
    compiler = os.environ.get('CC', 'cc')
    key = hashlib.sha1(source + ' '.join((compiler, real, 'v2') + CFLAGS).encode()
                       ).hexdigest()[:16]
    folder = cache_dir()
    path = osp.join(folder, f'normalized_l1_{real}_{key}.so')
    if osp.isfile(path):
        return path
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix='.so', dir=folder)
        os.close(fd)
    except OSError as error:
        raise NativeUnavailable(f'cannot write the compiled loss into {folder} ({error}); '
                                'set MDD_CACHE_DIR to a writable folder') from error
    cmd = [compiler, *CFLAGS, f'-DREAL={real}', *(['-DREAL_IS_FLOAT'] if real == 'float' else []),
           '-o', tmp, SOURCE, '-lm']
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise NativeUnavailable(f'compiling {SOURCE} failed ({" ".join(cmd)}):\n'
                                    f'{done.stderr.strip()}')
        os.replace(tmp, path)  # atomic: concurrent ranks never load a half-written file
    except FileNotFoundError as error:
        raise NativeUnavailable(f'no C compiler {compiler!r} ({error}); install one '
                                '(e.g. gcc) or set CC') from error
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return path


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, i32, dbl = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_double
    lib.set_simd.argtypes = [i32]
    lib.set_simd.restype = None
    lib.count_valid.argtypes = [p, i64]
    lib.count_valid.restype = ctypes.c_int64
    lib.valid_range.argtypes = [p, p, i64, p]
    lib.valid_range.restype = None
    lib.select_ranks.argtypes = [p, p, i64, p, i32, p, p]
    lib.select_ranks.restype = ctypes.c_int
    lib.forward_image.argtypes = [p, p, p, i64, i32, i32, p, p, p, p, i64, i64, i32, i32, p,
                                  i32, i32, dbl, i32, p, p, p, p, p, p, p, p, p, p, p, p]
    lib.forward_image.restype = ctypes.c_double
    lib.backward_image.argtypes = [i64, p, p, i32, i32, p, i32, p, p, i32, p, p, p, p, i32,
                                   dbl, p]
    lib.backward_image.restype = ctypes.c_int
    return lib


def library(dtype: torch.dtype) -> ctypes.CDLL:
    """The compiled kernels for float32 or float64 (built on first use).

    Raises:
        NativeUnavailable: no compiler, or the build failed.
    """
    real = _REALS[dtype]
    with _lock:
        if real not in _libraries:
            try:
                _libraries[real] = _declare(ctypes.CDLL(_compile(real)))
            except NativeUnavailable as error:
                _libraries[real] = error
        lib = _libraries[real]
    if isinstance(lib, NativeUnavailable):
        raise lib
    return lib


def available(dtype: torch.dtype = torch.float32) -> bool:
    try:
        library(dtype)
        return True
    except NativeUnavailable:
        return False


_warned = False


def _warn_once(error: Exception) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f'NormalizedL1Loss: the compiled CPU path is unavailable, using the '
                      f'slower torch path. {error}')


def _map(fn, items: Sequence) -> List:
    """``fn`` over ``items`` on torch's thread count (ctypes releases the GIL)."""
    global _pool
    workers = min(len(items), torch.get_num_threads())
    if workers <= 1:
        return [fn(item) for item in items]
    with _lock:
        if _pool is None or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=workers,
                                       thread_name_prefix='normalized_l1')
        pool = _pool
    return list(pool.map(fn, items))


class _Plan:
    """The contexts of one call, as the kernels see them: the finest level's contexts
    and, per image, the context of every level that holds each of them."""

    def __init__(self, normalization: str, grouping: str, levels: Sequence[int],
                 hdn_compat: bool, shape) -> None:
        if normalization == 'global':
            grouping, levels = 'range', (1, )
        levels = _check_levels(levels)
        if normalization == 'local':
            levels = (max(levels), )
        self.grouping, self.levels, self.hdn_compat = grouping, levels, hdn_compat
        # global contexts keep every valid pixel, also with hdn_compat
        self.top_open = hdn_compat and normalization != 'global'
        self.height, self.width = shape
        self.finest = max(levels)
        sizes = [s * s for s in levels] if grouping == 'spatial' else list(levels)
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.total = sum(sizes)
        self.fine_count = self.finest**2 if grouping == 'spatial' else self.finest
        if self.total >= 65535 or len(levels) > 5:
            raise _Fallback('more contexts or levels than 16-bit codes hold')
        self.ranks_per_context = 1 if hdn_compat else 2
        if grouping == 'spatial':
            self._plan_tiles()

    def _plan_tiles(self) -> None:
        """Tile maps of the finest level and the parent of each finest tile."""
        rows = [_tile_index(self.height, s, self.hdn_compat, 'cpu') for s in self.levels]
        cols = [_tile_index(self.width, s, self.hdn_compat, 'cpu') for s in self.levels]
        fine = self.levels.index(self.finest)
        fine_rows, fine_cols = rows[fine], cols[fine]
        parent = []
        for s, offset, row, col in zip(self.levels, self.offsets, rows, cols):
            row_of = _coarse_of(fine_rows, row, self.finest, s)
            col_of = _coarse_of(fine_cols, col, self.finest, s)
            parent.append(offset + row_of.view(-1, 1) * s + col_of.view(1, -1))
        self.row_tile = fine_rows.to(torch.int32).contiguous()
        self.col_tile = fine_cols.to(torch.int32).contiguous()
        self.parent = torch.stack(parent).flatten(1).to(torch.int32).contiguous()


@functools.lru_cache(maxsize=64)
def _plan(normalization: str, grouping: str, levels: tuple, hdn_compat: bool,
          shape: tuple) -> _Plan:
    """The plan of a setting and map size, made once (the tile maps cost ~1 ms)."""
    return _Plan(normalization, grouping, levels, hdn_compat, shape)


def _coarse_of(fine: Tensor, coarse: Tensor, fine_segments: int,
               segments: int) -> Tensor:
    """The coarse tile index of each fine tile index along one axis (raises _Fallback
    unless every position of a fine tile lies in one coarse tile)."""
    table = torch.full((fine_segments + 1, ), -1, dtype=torch.long)
    table[fine] = coarse
    inside = fine < fine_segments
    if ((table[fine] != coarse).any() or (coarse[~inside] < segments).any()
            or (coarse[inside] >= segments).any()):
        raise _Fallback('the tiles of the levels do not nest')
    return table[:fine_segments].clamp(min=0)


def _value_tables(plan: _Plan, lib, target: Tensor, valid: Tensor):
    # ``valid`` is a uint8 view of the mask
    """Per image: the finest level's left bin edges (B, F), HDN's open top edge (B, 1)
    or None, and the parent table (B, L, F) of the value groupings."""
    if plan.grouping == 'range':
        bounds = target.new_empty(target.shape[0], 2)
        _map(lambda b: lib.valid_range(target[b].data_ptr(), valid[b].data_ptr(),
                                       target.shape[1], bounds[b].data_ptr()),
             range(target.shape[0]))
        d_min, d_max = bounds[:, :1], bounds[:, 1:]
        edges = [range_edges(d_min, d_max, s, plan.hdn_compat) for s in plan.levels]
    else:
        # the linear quantiles of every level, from exact order statistics; the
        # fractions written exactly as quantile_contexts writes them
        fractions = [[i * (1.0 / s) for i in range(s + 1)] for s in plan.levels]
        qs = sorted({q for level in fractions for q in level})
        n_valid = torch.tensor(_map(lambda b: lib.count_valid(valid[b].data_ptr(),
                                                              valid.shape[1]),
                                    range(valid.shape[0])), dtype=torch.int64)
        below, above, weight = quantile_ranks(n_valid, qs, target.dtype)
        stats = _select_valid(lib, target, valid, torch.cat([below, above], 1) + 1)
        quantiles = lerp_quantiles(stats[:, :len(qs)], stats[:, len(qs):], weight, n_valid)
        column = {q: j for j, q in enumerate(qs)}
        edges = []
        for level in fractions:
            e = quantiles[:, [column[q] for q in level]]
            edges.append((e[:, :-1], e[:, 1:] if plan.hdn_compat else None))
    fine_lo, fine_hi = edges[plan.levels.index(plan.finest)]
    top = fine_hi[:, -1:].contiguous() if plan.top_open else None
    parent = []
    for (lo, hi), offset in zip(edges, plan.offsets):
        # a coarse bin is a union of finest bins when each of its edges is one of theirs
        if not (lo[:, 1:, None] == fine_lo[:, None, 1:]).any(-1).all():
            raise _Fallback('the bins of the levels do not nest')
        if top is not None and not (hi[:, -1:] == top).all():
            raise _Fallback('the open top bins of the levels differ')
        parent.append(offset + (fine_lo[:, :, None] >= lo[:, None, 1:]).sum(-1))
    return (fine_lo.contiguous(), top,
            torch.stack(parent, 1).to(torch.int32).contiguous())


def _select_valid(lib, x: Tensor, valid: Tensor, ranks: Tensor) -> Tensor:
    """The ``ranks``-th smallest valid values (B, R) of each image (1-based ranks)."""
    bsz, n = x.shape
    ranks = ranks.to(torch.int64).contiguous()
    values = x.new_empty(ranks.shape)
    index = torch.empty(ranks.shape, dtype=torch.int64)

    def one(b):
        return lib.select_ranks(x[b].data_ptr(), valid[b].data_ptr(), n,
                                ranks[b].data_ptr(), ranks.shape[1], values[b].data_ptr(),
                                index[b].data_ptr())

    if any(code == -1 for code in _map(one, range(bsz))):
        raise _Fallback('non-finite values')
    return values


class _NormalizedL1(torch.autograd.Function):

    @staticmethod
    def forward(fn_ctx, pred: Tensor, target: Tensor, valid: Tensor, plan: _Plan,
                eps: float) -> Tensor:
        lib = library(pred.dtype)
        lib.set_simd(int(SIMD))
        bsz, n = pred.shape
        levels, total, ranks = len(plan.levels), plan.total, plan.ranks_per_context
        fine_count = plan.fine_count
        if plan.grouping == 'spatial':
            lo = top = None
            parent = plan.parent.expand(bsz, -1, -1)
            row_tile, col_tile = plan.row_tile.data_ptr(), plan.col_tile.data_ptr()
        else:
            lo, top, parent = _value_tables(plan, lib, target, valid)
            row_tile = col_tile = None
        fid = torch.empty((bsz, n), dtype=torch.uint16)
        counts = torch.empty((bsz, total), dtype=torch.int64)
        mp, mt, inv_p, inv_t = pred.new_empty(4, bsz, total)
        median_index = torch.empty((bsz, total, ranks), dtype=torch.int64)
        sums = torch.zeros(3, bsz, total, dtype=torch.float64)
        sign_code = torch.empty((bsz, n), dtype=torch.uint16)
        n_valid = torch.empty(bsz, dtype=torch.int64)

        def forward_one(b):
            return lib.forward_image(
                pred[b].data_ptr(), target[b].data_ptr(), valid[b].data_ptr(), n,
                int(plan.grouping == 'spatial'), fine_count,
                None if lo is None else lo[b].data_ptr(),
                None if top is None else top[b].data_ptr(), row_tile, col_tile,
                plan.height, plan.width, plan.finest, levels, parent[b].data_ptr(), total,
                int(plan.hdn_compat), eps, ranks, fid[b].data_ptr(), counts[b].data_ptr(),
                mp[b].data_ptr(), mt[b].data_ptr(), inv_p[b].data_ptr(), inv_t[b].data_ptr(),
                median_index[b].data_ptr(), sums[0, b].data_ptr(), sums[1, b].data_ptr(),
                sums[2, b].data_ptr(), sign_code[b].data_ptr(), n_valid[b].data_ptr())

        loss_sums = torch.tensor(_map(forward_one, range(bsz)), dtype=torch.float64)
        if torch.isnan(loss_sums).any():
            raise _Fallback('non-finite values')
        if torch.isneginf(loss_sums).any():
            raise MemoryError('NormalizedL1Loss: the compiled CPU path ran out of memory')
        if plan.hdn_compat:  # the batch's valid pixel count, as HDN
            weights = torch.full((bsz, ), 1.0 / max(int(n_valid.sum()), 1),
                                 dtype=torch.float64)
        else:  # each image's mean, then the mean over images with valid pixels
            images = max(int((n_valid > 0).sum()), 1)
            weights = 1.0 / (n_valid.clamp(min=1).double() * images)
        fn_ctx.state = (plan, fid, sign_code, parent, counts, inv_p, sums, median_index,
                        weights)
        return (loss_sums * weights).sum().to(pred.dtype)

    @staticmethod
    def backward(fn_ctx, grad_output: Tensor):
        plan, fid, sign_code, parent, counts, inv_p, sums, median_index, weights = \
            fn_ctx.state
        lib = library(inv_p.dtype)
        bsz, n = fid.shape
        grad = inv_p.new_empty(bsz, n)
        scale = float(grad_output)

        def backward_one(b):
            return lib.backward_image(n, fid[b].data_ptr(), sign_code[b].data_ptr(),
                                      plan.fine_count, len(plan.levels), parent[b].data_ptr(),
                                      plan.total, counts[b].data_ptr(), inv_p[b].data_ptr(),
                                      int(plan.hdn_compat), sums[0, b].data_ptr(),
                                      sums[1, b].data_ptr(), sums[2, b].data_ptr(),
                                      median_index[b].data_ptr(), plan.ranks_per_context,
                                      scale * float(weights[b]), grad[b].data_ptr())

        if any(_map(backward_one, range(bsz))):
            raise MemoryError('NormalizedL1Loss: the compiled CPU path ran out of memory')
        return grad, None, None, None, None


def normalized_l1(pred: Tensor, target: Tensor, mask: Tensor, normalization: str,
                  grouping: str, levels: Sequence[int], hdn_compat: bool, eps: float,
                  required: bool = False) -> Optional[Tensor]:
    """The loss of :func:`~.normalized_l1_loss.normalized_l1_loss` on the compiled path.

    Args:
        pred, target, mask: (B, 1, H, W) float32 or float64 maps and a bool mask; the
            values of invalid pixels are never read (they may be NaN).
        required (bool): raise :class:`NativeUnavailable` instead of returning None
            when the compiled path cannot be built.

    Returns:
        Tensor or None: the loss, or None where this path does not apply (not on the
        CPU, normalization 'none', a non-finite prediction, no compiler) and the
        torch path must be used.
    """
    if (pred.device.type != 'cpu' or normalization == 'none'
            or pred.dtype not in _REALS or target.dtype != pred.dtype):
        return None
    try:
        library(pred.dtype)
    except NativeUnavailable as error:
        if required:
            raise
        _warn_once(error)
        return None
    try:
        plan = _plan(normalization, grouping, tuple(levels), hdn_compat,
                     tuple(pred.shape[-2:]))
        flat = [x.flatten(1).contiguous() for x in (pred, target, mask)]
        # the kernels read only valid pixels, so invalid ones may hold anything
        valid = flat[2].view(torch.uint8)
        return _NormalizedL1.apply(flat[0], flat[1].detach(), valid, plan, eps)
    except _Fallback:
        return None
