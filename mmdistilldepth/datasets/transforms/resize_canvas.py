"""Bring training images of any size to one canvas size, so that batches stack."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmdistilldepth.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ResizeCanvas(BaseTransform):
    """Resize an image (and its depth, if any) to cover ``size``, then centre-crop.

    The aspect ratio is kept: the image is scaled so that it covers the (h, w)
    canvas, then the middle is cut out. RGB uses area interpolation when shrinking
    and cubic when enlarging; depth and masks use nearest, so no depth is invented.

    Args:
        size (Sequence[int]): canvas (h, w).
    """

    def __init__(self, size: Sequence[int]) -> None:
        self.size = (int(size[0]), int(size[1]))

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        ch, cw = self.size
        scale = max(ch / h, cw / w)
        nh, nw = max(ch, round(h * scale)), max(cw, round(w * scale))
        top, left = (nh - ch) // 2, (nw - cw) // 2
        if (nh, nw) != (h, w):
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            img = cv2.resize(img, (nw, nh), interpolation=interp)
        results['img'] = np.ascontiguousarray(img[top:top + ch, left:left + cw])
        for key in ('gt_depth', 'gt_valid_mask'):
            if key in results:
                value = results[key]
                if value.shape[:2] != (nh, nw):
                    value = cv2.resize(value.astype(np.float32), (nw, nh),
                                       interpolation=cv2.INTER_NEAREST).astype(value.dtype)
                results[key] = np.ascontiguousarray(value[top:top + ch, left:left + cw])
        results['img_shape'] = self.size
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(size={self.size})'
