"""Batches of training images of different sizes, kept at their original resolution."""

from __future__ import annotations

import torch

from mmdistilldepth.registry import MODELS

from ..data_preprocessor import DepthDataPreprocessor
from .cross_context_distiller import pad_to


@MODELS.register_module()
class CrossContextDataPreprocessor(DepthDataPreprocessor):
    """``DepthDataPreprocessor`` that, in training, pads images of different sizes.

    Cross-context training cuts every view on the device from the images at their
    original resolution (``CrossContextCrops`` sends boxes, not pixels), and the
    images of a batch differ in size. In training they are moved to the device as
    they are, turned to float in [0, 1], and padded at the bottom and right to the
    batch's largest (H, W) by repeating their edge pixels (a bilinear sample at an
    image's edge then reads what the unpadded image gives). Each sample's
    ``ori_shape`` says which part is the image; nothing is cut from the padding.

    Outside training (validation, test) it stacks as ``DepthDataPreprocessor`` does:
    the evaluation pipelines resize images to one size, and a prediction on a padded
    image would not be the model's prediction on the image.

    Args:
        mean, std: as ``DepthDataPreprocessor`` (the distiller keeps them None).
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if not training or not isinstance(inputs, (list, tuple)):
            return super().forward(data, training)
        if len({tuple(x.shape) for x in inputs}) == 1:
            return super().forward(data, training)
        data = self.cast_data(data)
        images = [x.float() / (255.0 if x.dtype == torch.uint8 else 1.0) for x in data['inputs']]
        h = max(x.shape[-2] for x in images)
        w = max(x.shape[-1] for x in images)
        batch = torch.stack([pad_to(x, (h, w)) for x in images])
        if self.normalize:
            batch = (batch - self.mean) / self.std
        return dict(inputs=batch, data_samples=data.get('data_samples'))
