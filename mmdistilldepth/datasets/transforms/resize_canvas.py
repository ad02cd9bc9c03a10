"""Bring training images of any size to one canvas size, so that batches stack."""

from __future__ import annotations

from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmdistilldepth.registry import TRANSFORMS


def cover_window(shape: Sequence[int], size: Sequence[int]) -> Tuple[int, int, int, int]:
    """The centred window of an image that, scaled up or down, covers a canvas.

    The window has the canvas's aspect ratio (to the nearest pixel) and spans the
    image's full height or full width.

    Args:
        shape (Sequence[int]): (H, W) of the image.
        size (Sequence[int]): (h, w) of the canvas.

    Returns:
        tuple: (top, left, height, width) of the window, in image pixels.
    """
    h, w = int(shape[0]), int(shape[1])
    ch, cw = int(size[0]), int(size[1])
    scale = max(ch / h, cw / w)  # image -> canvas
    wh = min(h, max(1, round(ch / scale)))
    ww = min(w, max(1, round(cw / scale)))
    return (h - wh) // 2, (w - ww) // 2, wh, ww


@TRANSFORMS.register_module()
class ResizeCanvas(BaseTransform):
    """Scale an image (and its depth, if any) to cover ``size``, keeping the middle.

    The training configs no longer use it: ``CrossContextCrops`` draws every view in
    the image's own pixels and the distiller cuts them from the original image (the
    paper's section 4.1; a centred square canvas cut off the sides of a 3:2 photo).
    It stays for pipelines that need one fixed size.

    The aspect ratio is kept: the centred window of the image that has the canvas's
    aspect ratio (:func:`cover_window`) is cut out first, then resized to the
    canvas, so the cost does not grow with the image's other side (a 20000x200
    panorama costs what a 200x200 image does). RGB uses area interpolation when
    shrinking and cubic when enlarging (a 1x1 image becomes a flat canvas); depth
    and masks use nearest, so no depth is invented.

    Args:
        size (Sequence[int]): canvas (h, w).
    """

    def __init__(self, size: Sequence[int]) -> None:
        self.size = (int(size[0]), int(size[1]))
        if min(self.size) < 1:
            raise ValueError(f'ResizeCanvas: size must be positive, got {tuple(size)}')

    def transform(self, results: dict) -> dict:
        img = results['img']
        ch, cw = self.size
        top, left, wh, ww = cover_window(img.shape[:2], self.size)
        window = img[top : top + wh, left : left + ww]
        if (wh, ww) != (ch, cw):
            interp = cv2.INTER_AREA if wh > ch else cv2.INTER_CUBIC
            window = cv2.resize(window, (cw, ch), interpolation=interp)
        results['img'] = np.ascontiguousarray(window)
        for key in ('gt_depth', 'gt_valid_mask'):
            if key in results:
                value = results[key][top : top + wh, left : left + ww]
                if (wh, ww) != (ch, cw):
                    value = cv2.resize(
                        value.astype(np.float32), (cw, ch), interpolation=cv2.INTER_NEAREST
                    ).astype(value.dtype)
                results[key] = np.ascontiguousarray(value)
        results['img_shape'] = self.size
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(size={self.size})'
