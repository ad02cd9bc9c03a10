"""Zero-shot affine-invariant depth metric (community protocol) for MMEngine evaluators."""

from __future__ import annotations

import csv
import logging
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from mmdistilldepth.registry import METRICS

from ..functional import (
    ALIGNMENT_MODES,
    METRIC_NAMES,
    PRED_SPACES,
    NoValidPixelError,
    evaluate_depth,
    get_protocol,
)


def _field(sample: Any, name: str) -> Optional[torch.Tensor]:
    """``sample.<name>.data`` for a data sample or its ``to_dict()`` form, else None."""
    if isinstance(sample, BaseDataElement):
        sample = sample.to_dict()
    value = sample.get(name)
    if value is None:
        return None
    return value['data'] if isinstance(value, dict) else value.data


def resize_to(pred: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize a (1, h, w) or (h, w) prediction to ``size`` (H, W).

    Bilinear with ``align_corners=True``, as Depth Anything's ``infer_image`` does.
    """
    pred = pred.reshape(1, 1, *pred.shape[-2:]).float()
    if tuple(pred.shape[-2:]) != tuple(size):
        pred = F.interpolate(pred, size=tuple(size), mode='bilinear', align_corners=True)
    return pred[0, 0]


@METRICS.register_module()
class AffineInvariantDepthMetric(BaseMetric):
    """AbsRel, delta1 and friends after least-squares alignment, per image, averaged.

    For each image: the prediction ``pred_depth.data`` (1, h, w) is resized to the
    ground truth's (H, W) (bilinear, align_corners=True), then
    :func:`~mmdistilldepth.evaluation.functional.evaluate_depth` applies the
    benchmark's valid mask, the alignment and the clipping, and computes the metrics
    on the device the tensors are on. The dataset's result is the plain mean over
    images. Images without a pixel to evaluate (no valid ground truth, or no
    positive prediction to fit in disparity space) are left out of the means, named
    in a warning and counted in ``num_invalid``.

    Args:
        benchmark (str, optional): ``'nyu'``, ``'kitti'``, ``'eth3d'``, ``'diode'``
            or ``'scannet'``; None takes ``dataset_meta['benchmark']``.
        alignment (str): ``'least_square_disparity'`` for models that predict
            affine-invariant disparity (Depth Anything, the students),
            ``'least_square'`` for depth models (Marigold), ``'median'`` (scale
            only, in depth space) or ``'none'`` (metric models, compared as they
            are; ``tools/test.py --alignment none``).
        pred_space (str, optional): what the predictions are when a sample's
            metainfo does not say (``'disparity'`` or ``'depth'``). Estimators write
            ``pred_space`` into the metainfo (``DepthAnythingV2``: ``'depth'`` with
            ``max_depth``, else ``'disparity'``), and it wins; the prediction is then
            turned into the alignment's space (a disparity is inverted for
            ``none``/``median``, a depth for ``least_square_disparity``). None with
            no metainfo takes predictions as given (the behaviour before the key).
        alignment_max_res (int, optional): resolution cap of the fit; None uses the
            benchmark's default (1024 for ETH3D).
        per_image_csv (str, optional): where to write one row of metrics per image.
        crop (str, optional): override the benchmark's evaluation crop (e.g.
            ``'kitti_garg'``, or None for no crop); ``'default'`` takes
            ``dataset_meta['eval_crop']`` when the dataset sets it (KITTIEigenDataset
            does), else the benchmark's own.
        collect_device (str): ``'cpu'`` or ``'gpu'``, for gathering across ranks.
        prefix (str, optional): prefix of the metric names.

    Attributes:
        per_image_results (list[dict]): after ``evaluate``, on the main process: one
            dict per image with ``img_path``, ``sample_idx`` and ``metrics`` (None for
            an image without a valid pixel).
    """

    default_prefix: Optional[str] = None

    def __init__(
        self,
        benchmark: Optional[str] = None,
        alignment: str = 'least_square_disparity',
        alignment_max_res: Optional[int] = None,
        per_image_csv: Optional[str] = None,
        crop: Optional[str] = 'default',
        pred_space: Optional[str] = None,
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if alignment not in ALIGNMENT_MODES:
            raise ValueError(f'unknown alignment {alignment!r}; choose one of {ALIGNMENT_MODES}')
        if pred_space is not None and pred_space not in PRED_SPACES:
            raise ValueError(f'unknown pred_space {pred_space!r}; choose one of {PRED_SPACES}')
        if benchmark is not None:
            get_protocol(benchmark)  # fail at build time on a typo
        self.pred_space = pred_space
        self.benchmark = benchmark
        self.alignment = alignment
        self.alignment_max_res = alignment_max_res
        self.per_image_csv = per_image_csv
        self.crop = crop
        self.per_image_results: List[dict] = []

    def _benchmark(self) -> str:
        if self.benchmark is not None:
            return self.benchmark
        meta = self.dataset_meta or {}
        if 'benchmark' not in meta:
            raise KeyError(
                'AffineInvariantDepthMetric: benchmark=None, and the dataset metainfo '
                f'has no "benchmark" key (metainfo: {sorted(meta)}); set '
                "benchmark='nyu' (or kitti, eth3d, diode, scannet) in the evaluator"
            )
        return meta['benchmark']

    def _crop(self) -> Optional[str]:
        if self.crop != 'default':
            return self.crop
        return (self.dataset_meta or {}).get('eval_crop', 'default')

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Evaluate each image of a batch and keep its metrics (as floats)."""
        benchmark, crop = self._benchmark(), self._crop()
        for sample in data_samples:
            meta = sample.metainfo if isinstance(sample, BaseDataElement) else sample
            pred = _field(sample, 'pred_depth')
            gt = _field(sample, 'gt_depth')
            if pred is None or gt is None:
                raise KeyError(
                    'AffineInvariantDepthMetric needs pred_depth and gt_depth '
                    f'in every data sample; got keys {sorted(meta)}'
                )
            gt = gt.to(pred.device)
            mask = _field(sample, 'gt_valid_mask')
            pred = resize_to(pred, gt.shape[-2:])
            result = dict(
                img_path=meta.get('img_path'), sample_idx=meta.get('sample_idx'), metrics=None
            )
            pred_space = meta.get('pred_space') or self.pred_space
            try:
                values = evaluate_depth(
                    pred,
                    gt,
                    benchmark,
                    self.alignment,
                    mask,
                    self.alignment_max_res,
                    crop,
                    pred_space,
                )
                result['metrics'] = dict(
                    zip(METRIC_NAMES, torch.stack([values[k] for k in METRIC_NAMES]).tolist())
                )
            except NoValidPixelError as err:
                result['invalid_reason'] = str(err)
            self.results.append(result)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Average each metric over the images that have valid pixels."""
        self.per_image_results = list(results)
        valid = [r['metrics'] for r in results if r['metrics'] is not None]
        invalid = [r for r in results if r['metrics'] is None]
        if invalid:
            shown = ', '.join(str(r['img_path']) for r in invalid[:10])
            print_log(
                f'{len(invalid)} of {len(results)} images have no pixel to evaluate '
                f'and are left out of the averages: {shown}'
                f'{" ..." if len(invalid) > 10 else ""} (first: '
                f'{invalid[0].get("invalid_reason")})',
                logger='current',
                level=logging.WARNING,
            )
        if self.per_image_csv:
            self.write_per_image_csv(self.per_image_csv)
        averages = {
            name: float(np.mean([m[name] for m in valid])) if valid else float('nan')
            for name in METRIC_NAMES
        }
        averages['num_invalid'] = len(invalid)
        return averages

    def write_per_image_csv(self, path: str) -> None:
        """Write ``per_image_results`` as CSV (img_path, sample_idx, metrics...)."""
        if osp.dirname(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['img_path', 'sample_idx', *METRIC_NAMES])
            for r in self.per_image_results:
                values = (
                    [repr(r['metrics'][k]) for k in METRIC_NAMES]
                    if r['metrics'] is not None
                    else ['nan'] * len(METRIC_NAMES)
                )
                writer.writerow([r['img_path'], r['sample_idx'], *values])
