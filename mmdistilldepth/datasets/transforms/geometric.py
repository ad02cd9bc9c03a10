"""Resizing for the network and the KITTI benchmark crop. Ground truth is never resized."""

from __future__ import annotations

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmdistilldepth.apis.preprocessing import dav2_input_size
from mmdistilldepth.registry import TRANSFORMS

KB_CROP_HEIGHT = 352
KB_CROP_WIDTH = 1216


@TRANSFORMS.register_module()
class ResizeForDepthModel(BaseTransform):
    """Depth Anything V2's official test-time resize of ``img``.

    ``img`` (uint8 RGB) becomes float64 ``/ 255``; the output size keeps the aspect
    ratio with ``scale = max(size / h, size / w)``, each side
    ``round(side * scale / multiple) * multiple`` (numpy round, half to even), or
    ``ceil`` instead when that is below ``size`` (480x640 -> 518x686); the float
    image is resized with cv2 ``INTER_CUBIC`` (a = -0.75) and returned as float32 RGB
    in [0, 1]. Mean/std normalization is left to the data preprocessor. Ground truth
    (``gt_depth``, ``gt_valid_mask``) is not touched: metrics resize the prediction
    back to it.

    Updates ``img`` and ``img_shape``; ``scale_factor`` = (w'/w, h'/h).

    Args:
        size (int): lower bound of both output sides (518).
        multiple (int): output sides are multiples of it (the ViT patch size, 14).
    """

    def __init__(self, size: int = 518, multiple: int = 14) -> None:
        self.size = int(size)
        self.multiple = int(multiple)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype == np.uint8:
            img = img / 255.0
        height, width = img.shape[:2]
        new_h, new_w = dav2_input_size(height, width, self.size, self.multiple)
        resized = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
        results['img'] = resized.astype(np.float32)
        results['img_shape'] = (new_h, new_w)
        results['scale_factor'] = (new_w / width, new_h / height)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(size={self.size}, multiple={self.multiple})'


def kb_crop_box(height: int, width: int) -> tuple:
    """The KITTI benchmark crop (top, left, 352, 1216): bottom rows, centred columns."""
    if height < KB_CROP_HEIGHT or width < KB_CROP_WIDTH:
        raise ValueError(
            f'KB crop needs at least {KB_CROP_HEIGHT}x{KB_CROP_WIDTH}, got {height}x{width}'
        )
    return height - KB_CROP_HEIGHT, int((width - KB_CROP_WIDTH) / 2), KB_CROP_HEIGHT, KB_CROP_WIDTH


@TRANSFORMS.register_module()
class KBCrop(BaseTransform):
    """The KITTI benchmark (Kuznietsov/BTS) crop to 352x1216 of image and ground truth.

    ``top = H - 352``, ``left = int((W - 1216) / 2)``, applied to ``img``,
    ``gt_depth`` and ``gt_valid_mask``, whichever are present. The crop is what the
    benchmark evaluates, so ``ori_shape`` and ``img_shape`` become (352, 1216);
    ``kb_crop`` records (top, left).
    """

    KEYS = ('img', 'gt_depth', 'gt_valid_mask')

    def transform(self, results: dict) -> dict:
        shape = (results['img'] if 'img' in results else results['gt_depth']).shape[:2]
        top, left, height, width = kb_crop_box(*shape)
        for key in self.KEYS:
            if key in results:
                results[key] = np.ascontiguousarray(
                    results[key][top : top + height, left : left + width]
                )
        results['ori_shape'] = (height, width)
        results['img_shape'] = (height, width)
        results['kb_crop'] = (top, left)
        return results
