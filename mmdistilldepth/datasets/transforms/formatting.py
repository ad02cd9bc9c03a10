"""Pack a sample dict into the model's ``inputs`` and a :class:`DepthDataSample`."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData

from mmdistilldepth.registry import TRANSFORMS
from mmdistilldepth.structures import DepthDataSample

DEFAULT_META_KEYS = ('img_path', 'ori_shape', 'img_shape', 'benchmark', 'sample_idx')


@TRANSFORMS.register_module()
class PackDepthInputs(BaseTransform):
    """``img`` (H, W, 3) -> ``inputs`` (3, H, W); annotations -> ``data_samples``.

    ``inputs`` keeps the image's dtype: uint8 stays uint8 (the data preprocessor
    divides by 255), float32 in [0, 1] stays float32. ``gt_depth`` (H, W) float32 and
    ``gt_valid_mask`` (H, W) bool, when present, become PixelData of shape (1, H, W).

    Args:
        meta_keys (Sequence[str]): extra keys copied into the data sample's metainfo
            when present, on top of ``img_path, ori_shape, img_shape, benchmark,
            sample_idx``.
    """

    def __init__(self, meta_keys: Sequence[str] = ()) -> None:
        self.meta_keys = tuple(dict.fromkeys((*DEFAULT_META_KEYS, *meta_keys)))

    def transform(self, results: dict) -> dict:
        img = np.ascontiguousarray(results['img'])
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(img.transpose(2, 0, 1).copy())

        sample = DepthDataSample()
        if 'gt_depth' in results:
            depth = torch.from_numpy(np.asarray(results['gt_depth'], dtype=np.float32))
            sample.gt_depth = PixelData(data=depth[None])
        if 'gt_valid_mask' in results:
            mask = torch.from_numpy(np.asarray(results['gt_valid_mask'], dtype=bool))
            sample.gt_valid_mask = PixelData(data=mask[None])
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
