"""Moves a batch to the device, stacks it and scales it."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from mmdistilldepth.registry import MODELS


@MODELS.register_module()
class DepthDataPreprocessor(BaseDataPreprocessor):
    """Stack images into (B, 3, H, W) float32 RGB and optionally normalize them.

    uint8 inputs are divided by 255 first, float inputs are taken as already in
    [0, 1]. With ``mean``/``std`` (in [0, 1] units, e.g. ImageNet's) the result is
    normalized, which is what a standalone estimator expects; the distiller keeps the
    [0, 1] images, because each teacher applies its own normalization and the
    student's is applied by the distiller.

    Args:
        mean (Sequence[float], optional): per-channel mean in [0, 1] units.
        std (Sequence[float], optional): per-channel std in [0, 1] units.
    """

    def __init__(
        self, mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None
    ) -> None:
        super().__init__()
        if (mean is None) != (std is None):
            raise ValueError('DepthDataPreprocessor: give both mean and std, or neither')
        self.normalize = mean is not None
        if self.normalize:
            self.register_buffer(
                'mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False
            )
            self.register_buffer(
                'std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False
            )

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) > 1:
                raise ValueError(
                    f'cannot stack images of different sizes {sorted(shapes)} into one '
                    'batch: resize them to one size in the pipeline, or use batch_size=1'
                )
            inputs = torch.stack(list(inputs))
        scale = 255.0 if inputs.dtype == torch.uint8 else 1.0
        inputs = inputs.float() / scale
        if self.normalize:
            inputs = (inputs - self.mean) / self.std
        return dict(inputs=inputs, data_samples=data.get('data_samples'))
