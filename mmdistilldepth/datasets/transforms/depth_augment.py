"""The training crop of supervised fine-tuning: image, depth and mask together."""

from __future__ import annotations

import math
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmdistilldepth.registry import TRANSFORMS

#: Maps cut with the image (nearest-neighbour resize: depth values are never mixed).
ANNOTATION_KEYS = ('gt_depth', 'gt_valid_mask')


@TRANSFORMS.register_module()
class RandomDepthCrop(BaseTransform):
    """Resize (lower bound, aspect kept), random crop, optional flip of a labeled sample.

    As Depth Anything V2's metric fine-tuning prepares a sample: the image is
    resized with cv2 bicubic so that both sides are at least the crop size (times a
    random ``scale``), rounded up to a multiple of ``multiple``; ``gt_depth`` and
    ``gt_valid_mask`` are resized with nearest neighbour (depth values are kept, not
    blended across edges); then one random ``size`` crop is cut from all of them and,
    with probability ``flip_prob``, flipped left-right. Metric depth values are not
    changed by a resize: the camera and the scene are the same, only the pixel grid
    is.

    Args:
        size (int | tuple): crop (h, w) in pixels (DAv2: 518 for Hypersim, 518x518
            for Virtual KITTI 2 too).
        multiple (int): the resized sides are multiples of this (14 for ViTs).
        scale_range (tuple): random extra zoom before the crop (1, 1: none).
        flip_prob (float): probability of a horizontal flip (DAv2's metric
            training does not flip: 0).
    """

    def __init__(
        self,
        size: Union[int, Sequence[int]] = 518,
        multiple: int = 14,
        scale_range: Tuple[float, float] = (1.0, 1.0),
        flip_prob: float = 0.0,
    ) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.multiple = int(multiple)
        self.scale_range = tuple(scale_range)
        self.flip_prob = float(flip_prob)

    def _resized_shape(self, height: int, width: int, zoom: float) -> Tuple[int, int]:
        scale = max(self.size[0] / height, self.size[1] / width) * zoom
        m = self.multiple
        return (
            max(self.size[0], math.ceil(height * scale / m) * m),
            max(self.size[1], math.ceil(width * scale / m) * m),
        )

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        zoom = float(np.random.uniform(*self.scale_range))
        new_h, new_w = self._resized_shape(height, width, zoom)
        if (new_h, new_w) != (height, width):
            img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
        top = int(np.random.randint(0, new_h - self.size[0] + 1))
        left = int(np.random.randint(0, new_w - self.size[1] + 1))
        flip = np.random.rand() < self.flip_prob
        window = (slice(top, top + self.size[0]), slice(left, left + self.size[1]))

        def cut(array: np.ndarray) -> np.ndarray:
            out = array[window]
            return np.ascontiguousarray(out[:, ::-1] if flip else out)

        results['img'] = cut(img)
        for key in ANNOTATION_KEYS:
            if results.get(key) is None:
                continue
            array = results[key]
            if array.shape[:2] != (new_h, new_w):
                resized = cv2.resize(
                    array.astype(np.uint8) if array.dtype == bool else array,
                    (new_w, new_h),
                    interpolation=cv2.INTER_NEAREST,
                )
                array = resized.astype(bool) if array.dtype == bool else resized
            results[key] = cut(array)
        results['img_shape'] = self.size
        results['flip'] = bool(flip)
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(size={self.size}, multiple={self.multiple}, '
            f'scale_range={self.scale_range}, flip_prob={self.flip_prob})'
        )
