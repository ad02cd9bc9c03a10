"""MiDaS v3.1's test-time resize of ``img`` (the "minimal" rule, multiple of 32)."""

from __future__ import annotations

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmdistilldepth.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ResizeForMiDaS(BaseTransform):
    """Resize ``img`` as MiDaS's transform does, for evaluating MiDaS students.

    ``img`` (uint8 RGB) becomes float64 ``/ 255`` and is resized with cv2
    ``INTER_CUBIC`` to :func:`~mmdistilldepth.models.estimators.midas.midas_input_size`
    (aspect kept: 480x640 -> 512x672 for BEiT-L's 512; or squashed to ``size`` x
    ``size`` for Swin2), float32 RGB in [0, 1]. Normalization ((x - 0.5) / 0.5) is
    left to the data preprocessor; ground truth is not touched.

    Args:
        size (int): the network size (512 for BEiT-L, 256 for Swin2-T).
        keep_aspect_ratio (bool): keep the aspect (BEiT) or squash (Swin2).
        multiple (int): output sides are multiples of it (32).
    """

    def __init__(self, size: int = 512, keep_aspect_ratio: bool = True, multiple: int = 32) -> None:
        self.size = int(size)
        self.keep_aspect_ratio = bool(keep_aspect_ratio)
        self.multiple = int(multiple)

    def transform(self, results: dict) -> dict:
        from mmdistilldepth.models.estimators.midas import midas_input_size

        img = results['img']
        if img.dtype == np.uint8:
            img = img / 255.0
        height, width = img.shape[:2]
        new_h, new_w = midas_input_size(
            height, width, self.size, self.keep_aspect_ratio, self.multiple
        )
        results['img'] = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_CUBIC).astype(
            np.float32
        )
        results['img_shape'] = (new_h, new_w)
        results['scale_factor'] = (new_w / width, new_h / height)
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(size={self.size}, '
            f'keep_aspect_ratio={self.keep_aspect_ratio}, multiple={self.multiple})'
        )
