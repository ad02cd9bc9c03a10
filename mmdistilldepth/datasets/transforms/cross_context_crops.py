"""Sampling of the cross-context views (boxes only; pixels are cut on the device)."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmdistilldepth.registry import TRANSFORMS


def _box_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of boxes ``a`` and ``b`` (x1, y1, x2, y2) over the area of ``a``."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / max((a[2] - a[0]) * (a[3] - a[1]), 1e-9)


@TRANSFORMS.register_module()
class CrossContextCrops(BaseTransform):
    """Sample the shared-context crop and the local crops of one image.

    The image itself is not cut here: the boxes ride in ``results['shared_box']``
    (4,) and ``results['local_boxes']`` (N, 4), as (x1, y1, x2, y2) in pixels of the
    image, and the distiller cuts every view of the batch on the device in one
    batched crop-resize. The views (ARCHITECTURE.md):

    - ``V_g``, the global view: the whole image (student only);
    - ``V_s``, the shared-context crop (teacher and student): side drawn as a
      fraction ``shared_scale`` of the image's shorter side, aspect ratio
      (width / height) drawn log-uniformly in ``shared_aspect``; the paper uses
      square crops from 644 px to the shorter side;
    - ``V_l,n``, N local crops of the global view (teacher only), side a fraction
      ``local_scale`` of the shorter side, square; each crop after the first covers
      at least ``local_min_overlap`` of its area with the crop before it, so that the
      local pseudo-labels overlap and tie together.

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
        shared_scale (Sequence[float]): range of the shared crop's side.
        shared_aspect (Sequence[float]): range of its aspect ratio.
        num_local (int): the number of local crops N (0 disables them).
        local_scale (Sequence[float]): range of a local crop's side.
        local_min_overlap (float): minimum overlap of consecutive local crops.
        max_tries (int): rejection-sampling attempts before a crop is pulled
            towards the previous one.
        seed (int, optional): seed of the draws; None takes the run's seed (MMEngine's
            runner seeds torch with ``randomness.seed`` just before it builds the
            datasets, and the transform reads ``torch.initial_seed()`` when built).
    """

    def __init__(
        self,
        shared_scale: Sequence[float] = (0.5, 1.0),
        shared_aspect: Sequence[float] = (1.0, 1.0),
        num_local: int = 2,
        local_scale: Sequence[float] = (0.4, 0.6),
        local_min_overlap: float = 0.2,
        max_tries: int = 20,
        seed: Optional[int] = None,
    ) -> None:
        for name, rng in (('shared_scale', shared_scale), ('local_scale', local_scale)):
            if not 0 < rng[0] <= rng[1] <= 1:
                raise ValueError(
                    f'CrossContextCrops: {name} must satisfy 0 < lo <= hi <= 1, got {tuple(rng)}'
                )
        if not 0 < shared_aspect[0] <= shared_aspect[1]:
            raise ValueError(f'CrossContextCrops: bad shared_aspect {tuple(shared_aspect)}')
        if not 0 <= local_min_overlap < 1:
            raise ValueError('CrossContextCrops: local_min_overlap must lie in [0, 1)')
        self.shared_scale = tuple(shared_scale)
        self.shared_aspect = tuple(shared_aspect)
        self.num_local = num_local
        self.local_scale = tuple(local_scale)
        self.local_min_overlap = local_min_overlap
        self.max_tries = max_tries
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

    @staticmethod
    def _place(
        rng: np.random.Generator,
        w: float,
        h: float,
        img_w: int,
        img_h: int,
        center: Optional[Tuple[float, float]] = None,
    ) -> np.ndarray:
        """A box of size (w, h) at a random position, or centred on ``center``."""
        if center is None:
            x1 = rng.uniform(0, img_w - w)
            y1 = rng.uniform(0, img_h - h)
        else:
            x1 = float(np.clip(center[0] - w / 2, 0, img_w - w))
            y1 = float(np.clip(center[1] - h / 2, 0, img_h - h))
        return np.array([x1, y1, x1 + w, y1 + h], dtype=np.float32)

    def _shared_box(self, rng: np.random.Generator, img_w: int, img_h: int) -> np.ndarray:
        short = min(img_w, img_h)
        side = rng.uniform(*self.shared_scale) * short
        log_lo, log_hi = np.log(self.shared_aspect[0]), np.log(self.shared_aspect[1])
        aspect = float(np.exp(rng.uniform(log_lo, log_hi)))
        w = min(side * np.sqrt(aspect), img_w)
        h = min(side / np.sqrt(aspect), img_h)
        return self._place(rng, w, h, img_w, img_h)

    def _local_boxes(self, rng: np.random.Generator, img_w: int, img_h: int) -> np.ndarray:
        short = min(img_w, img_h)
        boxes = []
        for _ in range(self.num_local):
            side = rng.uniform(*self.local_scale) * short
            box = self._place(rng, side, side, img_w, img_h)
            if boxes:
                prev = boxes[-1]
                for _ in range(self.max_tries):
                    if _box_overlap(box, prev) >= self.local_min_overlap:
                        break
                    box = self._place(rng, side, side, img_w, img_h)
                else:
                    # pull the crop onto the previous one: full overlap is always valid
                    box = self._place(
                        rng,
                        side,
                        side,
                        img_w,
                        img_h,
                        center=((prev[0] + prev[2]) / 2, (prev[1] + prev[3]) / 2),
                    )
            boxes.append(box)
        return np.stack(boxes) if boxes else np.zeros((0, 4), dtype=np.float32)

    def transform(self, results: dict) -> dict:
        img_h, img_w = results['img'].shape[:2]
        rng = self._generator(results)
        results['shared_box'] = self._shared_box(rng, img_w, img_h)
        results['local_boxes'] = self._local_boxes(rng, img_w, img_h)
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(shared_scale={self.shared_scale}, '
            f'shared_aspect={self.shared_aspect}, num_local={self.num_local}, '
            f'local_scale={self.local_scale}, local_min_overlap={self.local_min_overlap}, '
            f'seed={self.seed})'
        )
