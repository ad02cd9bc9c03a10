"""What every depth estimator shares: MMEngine's ``forward`` modes and ``predict``."""

from __future__ import annotations

from typing import List, Optional

import torch
from mmengine.model import BaseModel
from mmengine.structures import PixelData

from mmdistilldepth.structures import DepthDataSample


class BaseDepthEstimator(BaseModel):
    """A model that maps normalized images to relative disparity.

    Subclasses implement ``_forward(inputs) -> disparity (B, 1, H, W)``; this class
    wires it to MMEngine's ``forward(inputs, data_samples, mode)``. Estimators have no
    supervised loss of their own: they are trained as the student of a distiller, or
    wrapped in ``SupervisedDepthEstimator`` for fine-tuning on labeled depth.

    ``pred_space`` says what the output is: ``'disparity'`` (relative, affine-invariant
    inverse depth, the default) or ``'depth'`` (metric depth in metres, e.g.
    ``DepthAnythingV2(max_depth=...)``). ``predict`` writes it into each sample's
    metainfo, so the evaluator knows the space it aligns (or does not align) in.
    """

    #: ``'disparity'`` (relative inverse depth) or ``'depth'`` (metric, metres).
    pred_space: str = 'disparity'

    def _forward(self, inputs: torch.Tensor, data_samples=None) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[DepthDataSample]] = None,
        mode: str = 'tensor',
    ):
        """MMEngine entry point.

        Args:
            inputs (Tensor): normalized images (B, 3, H, W), sides as the model needs
                (multiples of 14 for DAv2, of 16 or 32 for MiDaS).
            data_samples (list[DepthDataSample], optional): samples to fill.
            mode (str): ``'tensor'`` -> disparity (B, 1, H, W); ``'predict'`` ->
                the data samples with ``pred_depth`` = disparity (1, H, W).
        """
        if mode == 'tensor':
            return self._forward(inputs)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'loss':
            raise RuntimeError(
                f'{type(self).__name__} has no supervised loss of its own: train it '
                "as the student of a distiller (model.type='CrossContextDistiller')"
            )
        raise ValueError(f"mode must be 'tensor', 'predict' or 'loss', got {mode!r}")

    def predict(
        self, inputs: torch.Tensor, data_samples: Optional[List[DepthDataSample]] = None
    ) -> List[DepthDataSample]:
        """Fill ``pred_depth`` (relative disparity at the input resolution)."""
        disparity = self._forward(inputs)
        if data_samples is None:
            data_samples = [DepthDataSample() for _ in range(disparity.shape[0])]
        for sample, disp in zip(data_samples, disparity):
            sample.pred_depth = PixelData(data=disp)
            sample.set_metainfo(dict(pred_space=self.pred_space))
        return data_samples
