"""Sampling of the cross-context views in original pixels (boxes only; pixels are cut
on the device).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmdistilldepth.registry import TRANSFORMS

#: arguments of the canvas-fraction version (before views were drawn in original pixels)
_REPLACED = dict(
    shared_scale='shared_side=(lo_px, hi_px or None) in original pixels',
    shared_aspect='nothing: the shared crop is square (paper, section 4.1)',
    local_scale='local_size=px, the local patch side in original pixels',
    local_min_overlap='local_overlap, the overlap of neighbouring patches (fraction)',
    max_tries='nothing: the patches lie on a grid',
)


def _box_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of boxes ``a`` and ``b`` (x1, y1, x2, y2) over the area of ``a``."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / max((a[2] - a[0]) * (a[3] - a[1]), 1e-9)


def global_view_shape(
    shape: Sequence[int], size: Union[None, int, Sequence[int]], multiple: int = 14
) -> Tuple[int, int]:
    """The student's global view of a whole image: (h, w), multiples of ``multiple``.

    Args:
        shape (Sequence[int]): (H, W) of the image.
        size: ``None``: the image's own size; an int ``s``: the aspect ratio kept and
            the area near ``s * s`` (the cost of an ``s x s`` view); ``(h, w)``: that
            size exactly (the aspect ratio is then not kept; for students with a
            fixed input size).
        multiple (int): the sides are rounded to multiples of this (the patch size).

    Returns:
        tuple: (h, w) of the student's input.
    """
    h, w = int(shape[0]), int(shape[1])
    if size is not None and not isinstance(size, (int, float)):
        return int(size[0]), int(size[1])
    if size is None:
        th, tw = float(h), float(w)
    else:
        root = math.sqrt(w / h)
        th, tw = size / root, size * root
    return (
        max(multiple, int(round(th / multiple)) * multiple),
        max(multiple, int(round(tw / multiple)) * multiple),
    )


def _grid_axis(length: int, patch: int, count: int, overlap: float) -> Tuple[float, int]:
    """Stride and span of ``count`` patches of side ``patch`` along a side ``length``.

    Neighbours overlap by ``overlap`` of a patch; where the side is too short for that,
    the stride shrinks so that the patches still fit (they then overlap more).
    """
    if count <= 1:
        return 0.0, patch
    stride = float(round(patch * (1 - overlap)))
    if (count - 1) * stride + patch > length:
        stride = (length - patch) / (count - 1)
    return stride, int(math.ceil((count - 1) * stride + patch))


def local_grid(num_local: int) -> Tuple[int, int]:
    """(rows, cols) of ``num_local`` patches, the more patches along the longer side.

    1 -> 1x1, 2 -> 1x2, 3 -> 1x3, 4 -> 2x2, 6 -> 2x3, 9 -> 3x3: the largest divisor of
    N not above its square root gives the rows. The cols go along the image's longer
    side (rows and cols swap on portrait images).
    """
    rows = max(d for d in range(1, int(math.isqrt(max(num_local, 1))) + 1) if num_local % d == 0)
    return rows, max(num_local, 1) // rows


@TRANSFORMS.register_module()
class CrossContextCrops(BaseTransform):
    """Draw the cross-context views of one image, in the image's own pixels.

    The image is decoded once and not cut here: the boxes ride in the metainfo, and
    the distiller cuts every view of the batch on the device with ``roi_align`` from
    the original-resolution images (padded to the batch's largest). The views (paper,
    section 4.1):

    - ``V_g``, the student's **global view**: the whole image, no crop, resized to
      ``img_shape`` (:func:`global_view_shape`: by default the aspect ratio is kept,
      the area near ``global_size`` squared, sides multiples of ``size_multiple``);
    - ``V_s``, the **shared-context crop** (teacher and student): a square whose side
      is drawn uniformly (whole pixels) from ``shared_side`` = (644, shortest side)
      original pixels, at a uniform whole-pixel position; the distiller resizes it
      to ``train_size`` (560). An image whose shortest side is under the lower bound
      takes its whole shortest side and says so (``shared_clamped=True``);
    - ``V_l,n``, N **local patches** (teacher only): squares of ``local_size`` (560)
      original pixels, which the teacher sees at 1:1, laid on a rows x cols grid
      (:func:`local_grid`, cols along the longer side) whose neighbours overlap by
      ``local_overlap`` of a patch (stride 420 px for 560 px and 0.25); the whole grid
      (980 x 980 px for 2x2) sits at a uniform whole-pixel position in the image, so
      successive draws cover the whole image. On a side too short for the grid the
      stride shrinks (more overlap); on an image whose shortest side is under
      ``local_size`` the patches are squares of the shortest side (then resized up to
      ``train_size`` by the distiller).

    Metainfo written (the contract the distiller reads; ``box / scale_factor`` is the
    box in the original image):

    - ``ori_shape`` (H, W): the decoded image the views are cut from (after the
      optional ``max_side`` cap; ``capped_from`` then holds the file's (H, W));
    - ``img_shape`` (h, w): the student's global view;
    - ``scale_factor`` (w, h): student-input pixels per original pixel, ``w / W``,
      ``h / H``;
    - ``shared_box`` (4,) and ``local_boxes`` (N, 4): (x1, y1, x2, y2) in
      student-input pixels of the global view;
    - ``shared_clamped``: whether the shortest side was under ``shared_side[0]``.

    The draws are reproducible: each call draws from a generator seeded with
    ``(seed, sample_idx, n)``, ``n`` being the number of earlier draws of that
    sample in this process. With MMEngine's ``InfiniteSampler`` and data-loading
    processes that live for the whole run (an ``IterBasedTrainLoop``), ``n`` is the
    same in every run of a config, and a resumed run rebuilds it (the loop replays
    the batches already trained before it continues), so ``kill -9`` and
    ``--resume`` give the crops of an uninterrupted run. With 0 or 1 workers per
    process, ``n`` is the sample's epoch, so both give the same crops. The draws do
    not depend on ``np.random``: nothing else in the process can shift them, and
    DDP ranks (which MMEngine seeds alike) do not repeat each other's crops. The
    counts cost 4 bytes per sample and loading process. A sample without
    ``sample_idx`` counts as one shared sample.

    Args:
        global_size (int | Sequence[int], optional): the student's global view:
            an int keeps the aspect ratio with an area near its square, ``(h, w)``
            forces that size, None keeps the image's size (each rounded to
            ``size_multiple``).
        size_multiple (int): the global view's sides are multiples of this.
        shared_side (Sequence): (lo, hi) side of the shared crop in original pixels;
            ``hi=None`` is the image's shortest side.
        local_size (int): side of a local patch in original pixels.
        num_local (int): the number of local patches N (0: none).
        local_overlap (float): the overlap of neighbouring patches, in [0, 1).
        max_side (int, optional): downscale (area interpolation) a decoded image whose
            longer side exceeds this, before anything is drawn; None never does.
        seed (int, optional): seed of the draws; None takes the run's seed (MMEngine's
            runner seeds torch with ``randomness.seed`` just before it builds the
            datasets, and the transform reads ``torch.initial_seed()`` when built).
        shared_scale, shared_aspect, local_scale, local_min_overlap, max_tries: the
            arguments of the canvas-fraction crops; giving one raises a ``TypeError``
            that names its replacement.
    """

    def __init__(
        self,
        global_size: Union[None, int, Sequence[int]] = None,
        size_multiple: int = 14,
        shared_side: Sequence[Optional[int]] = (644, None),
        local_size: int = 560,
        num_local: int = 4,
        local_overlap: float = 0.25,
        max_side: Optional[int] = None,
        seed: Optional[int] = None,
        shared_scale=None,
        shared_aspect=None,
        local_scale=None,
        local_min_overlap=None,
        max_tries=None,
    ) -> None:
        old = dict(
            shared_scale=shared_scale,
            shared_aspect=shared_aspect,
            local_scale=local_scale,
            local_min_overlap=local_min_overlap,
            max_tries=max_tries,
        )
        for name, value in old.items():
            if value is not None:
                raise TypeError(
                    f'CrossContextCrops: {name} (of the old canvas-fraction crops) was '
                    f'replaced; use {_REPLACED[name]} (docs/method.md)'
                )
        lo, hi = shared_side
        if lo is None or lo < 1 or (hi is not None and hi < lo):
            raise ValueError(
                f'CrossContextCrops: shared_side must be (lo >= 1, hi >= lo or None), '
                f'got {tuple(shared_side)}'
            )
        if not 0 <= local_overlap < 1:
            raise ValueError('CrossContextCrops: local_overlap must lie in [0, 1)')
        if local_size < 1 or num_local < 0 or size_multiple < 1:
            raise ValueError(
                'CrossContextCrops: local_size and size_multiple must be >= 1, num_local >= 0'
            )
        self.global_size = (
            global_size
            if global_size is None or isinstance(global_size, (int, float))
            else tuple(int(s) for s in global_size)
        )
        self.size_multiple = int(size_multiple)
        self.shared_side = (int(lo), None if hi is None else int(hi))
        self.local_size = int(local_size)
        self.num_local = int(num_local)
        self.local_overlap = float(local_overlap)
        self.max_side = max_side
        self.seed = int(torch.initial_seed() if seed is None else seed)
        # draws so far per sample (slot 0: samples without an index), grown on demand
        self._draws = np.zeros(0, dtype=np.uint32)

    def _generator(self, results: dict) -> np.random.Generator:
        """The generator of this draw: ``(seed, sample_idx, draws of it so far)``."""
        index = results.get('sample_idx')
        slot = 0 if index is None else int(index) + 1
        if slot >= len(self._draws):
            grown = np.zeros(max(slot + 1, 2 * len(self._draws)), dtype=np.uint32)
            grown[: len(self._draws)] = self._draws
            self._draws = grown
        draw = int(self._draws[slot])
        self._draws[slot] += 1
        return np.random.default_rng([self.seed, slot, draw])

    def _cap(self, results: dict) -> None:
        """Downscale a decoded image over ``max_side`` (and its depth, nearest)."""
        h, w = results['img'].shape[:2]
        if self.max_side is None or max(h, w) <= self.max_side:
            return
        scale = self.max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        results['img'] = cv2.resize(results['img'], size, interpolation=cv2.INTER_AREA)
        for key in ('gt_depth', 'gt_valid_mask'):
            if key in results:
                value = results[key]
                results[key] = cv2.resize(
                    value.astype(np.float32), size, interpolation=cv2.INTER_NEAREST
                ).astype(value.dtype)
        results['capped_from'] = (h, w)

    def _shared_box(self, rng: np.random.Generator, img_w: int, img_h: int):
        """A square of side in ``shared_side``, at a whole-pixel position (original px)."""
        short = min(img_w, img_h)
        lo, hi = self.shared_side
        hi = short if hi is None else min(hi, short)
        clamped = short < lo
        side = short if clamped else int(rng.integers(lo, hi + 1))
        x1 = int(rng.integers(0, img_w - side + 1))
        y1 = int(rng.integers(0, img_h - side + 1))
        return np.array([x1, y1, x1 + side, y1 + side], dtype=np.float32), clamped

    def _local_boxes(self, rng: np.random.Generator, img_w: int, img_h: int) -> np.ndarray:
        """N overlapping squares of ``local_size`` on a grid at a random place (original px)."""
        if self.num_local == 0:
            return np.zeros((0, 4), dtype=np.float32)
        patch = min(self.local_size, img_w, img_h)
        rows, cols = local_grid(self.num_local)
        if img_h > img_w:
            rows, cols = cols, rows
        sx, span_x = _grid_axis(img_w, patch, cols, self.local_overlap)
        sy, span_y = _grid_axis(img_h, patch, rows, self.local_overlap)
        x0 = int(rng.integers(0, max(img_w - span_x, 0) + 1))
        y0 = int(rng.integers(0, max(img_h - span_y, 0) + 1))
        xs = np.floor(x0 + sx * np.arange(cols))
        ys = np.floor(y0 + sy * np.arange(rows))
        yy, xx = np.meshgrid(ys, xs, indexing='ij')
        x1, y1 = xx.ravel(), yy.ravel()
        return np.stack([x1, y1, x1 + patch, y1 + patch], axis=1).astype(np.float32)

    def transform(self, results: dict) -> dict:
        self._cap(results)
        img_h, img_w = results['img'].shape[:2]
        rng = self._generator(results)
        gh, gw = global_view_shape((img_h, img_w), self.global_size, self.size_multiple)
        scale = np.array([gw / img_w, gh / img_h] * 2, dtype=np.float32)
        shared, clamped = self._shared_box(rng, img_w, img_h)
        results['ori_shape'] = (img_h, img_w)
        results['img_shape'] = (gh, gw)
        results['scale_factor'] = (gw / img_w, gh / img_h)
        results['shared_box'] = shared * scale
        results['local_boxes'] = self._local_boxes(rng, img_w, img_h) * scale
        results['shared_clamped'] = bool(clamped)
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(global_size={self.global_size}, '
            f'size_multiple={self.size_multiple}, shared_side={self.shared_side}, '
            f'local_size={self.local_size}, num_local={self.num_local}, '
            f'local_overlap={self.local_overlap}, max_side={self.max_side}, seed={self.seed})'
        )
