"""Pictures of a benchmark's worst images: RGB | prediction | ground truth | error."""

from __future__ import annotations

import os
import os.path as osp
from typing import List, Optional

import cv2
import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmdistilldepth.evaluation.functional import align_to_benchmark
from mmdistilldepth.evaluation.metrics.affine_invariant_depth_metric import (
    AffineInvariantDepthMetric,
    resize_to,
)
from mmdistilldepth.registry import HOOKS
from mmdistilldepth.visualization import colorize, panel_row, robust_range, to_bgr


@HOOKS.register_module()
class WorstImagesVisualizationHook(Hook):
    """After each test epoch, draw the ``num_worst`` images with the highest AbsRel.

    The model runs again on those images only (the per-image metrics of
    ``AffineInvariantDepthMetric`` name them, gathered over all ranks), and each
    becomes ``<out_dir>/<benchmark>/worst/<rank>_<image>.png``: labelled panels
    RGB | prediction | GT | error with colour bars. Prediction and ground truth
    are coloured as inverse depth (1/m) on the ground truth's 2nd-98th percentile,
    the prediction after the benchmark's alignment; the error is the per-pixel
    AbsRel ``|pred - gt| / gt`` on [0, 0.5]. Rows taller than ``max_height`` are
    scaled down. Main process only.

    Args:
        num_worst (int): pictures per benchmark (0 draws none).
        out_dir (str, optional): None: the runner's work dir.
        max_height (int): the largest panel height (px).
    """

    priority = 'LOW'

    def __init__(
        self, num_worst: int = 5, out_dir: Optional[str] = None, max_height: int = 384
    ) -> None:
        self.num_worst = num_worst
        self.out_dir = out_dir
        self.max_height = max_height

    def after_test_epoch(self, runner, metrics=None) -> None:
        loop = runner.test_loop
        metric = next(
            (m for m in loop.evaluator.metrics if isinstance(m, AffineInvariantDepthMetric)), None
        )
        if metric is None or self.num_worst <= 0 or not is_main_process():
            return
        name = getattr(loop, 'benchmark', None) or 'test'
        self.draw(
            runner,
            loop.dataloader.dataset,
            metric,
            name,
            osp.join(self.out_dir or runner.work_dir, name, 'worst'),
        )

    def draw(
        self, runner, dataset, metric: AffineInvariantDepthMetric, name: str, out_dir: str
    ) -> List[str]:
        """Write the pictures of the worst images of ``metric``; returns their paths."""
        rows = [
            r
            for r in metric.per_image_results
            if r['metrics'] is not None and r['sample_idx'] is not None
        ]
        rows.sort(key=lambda r: r['metrics']['abs_rel'], reverse=True)
        benchmark = metric.benchmark or dataset.metainfo.get('benchmark')
        crop = (
            metric.crop
            if metric.crop != 'default'
            else dataset.metainfo.get('eval_crop', 'default')
        )
        os.makedirs(out_dir, exist_ok=True)
        written = []
        for rank, row in enumerate(rows[: self.num_worst], 1):
            batch = pseudo_collate([dataset[row['sample_idx']]])
            with torch.no_grad():
                sample = runner.model.test_step(batch)[0]
            gt = sample.gt_depth.data
            mask = sample.gt_valid_mask.data if 'gt_valid_mask' in sample else None
            pred = resize_to(sample.pred_depth.data, gt.shape[-2:])
            pred_space = sample.metainfo.get('pred_space') or getattr(metric, 'pred_space', None)
            aligned = align_to_benchmark(
                pred,
                gt,
                benchmark,
                metric.alignment,
                mask,
                metric.alignment_max_res,
                crop,
                pred_space,
            )
            caption = (
                f'{name} #{rank} AbsRel {row["metrics"]["abs_rel"]:.3f} '
                f'{osp.basename(str(row["img_path"]))}'
            )
            picture = self.picture(
                batch['inputs'][0],
                *(x.cpu().numpy() for x in (aligned.pred, aligned.gt, aligned.valid_mask)),
                caption,
            )
            stem = osp.splitext(osp.basename(str(row['img_path'])))[0]
            path = osp.join(out_dir, f'{rank:02d}_{stem}.png')
            cv2.imwrite(path, to_bgr(picture))
            written.append(path)
        return written

    def picture(
        self, image: torch.Tensor, pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, caption: str
    ) -> np.ndarray:
        """RGB uint8 labelled row of an (3, h, w) input and (H, W) aligned maps."""
        height, width = gt.shape
        image = image.permute(1, 2, 0).cpu().numpy()
        if image.dtype != np.uint8:
            image = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
        rgb = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        inv_range = robust_range(1.0 / np.maximum(gt, 1e-6), valid)
        error = np.abs(pred - gt) / np.maximum(gt, 1e-6)
        panels = [
            (rgb, 'RGB', None),
            (
                colorize(1.0 / np.maximum(pred, 1e-6), value_range=inv_range),
                'prediction',
                inv_range,
            ),
            (colorize(1.0 / np.maximum(gt, 1e-6), valid, inv_range), 'GT', inv_range),
            (colorize(error, valid, (0.0, 0.5), 'jet'), 'error', (0.0, 0.5)),
        ]
        scale = min(1.0, self.max_height / height)
        size = (round(width * scale), round(height * scale))
        return panel_row(
            [
                (
                    cv2.resize(x, size, interpolation=cv2.INTER_AREA),
                    title,
                    rng,
                    'jet' if title == 'error' else 'inferno',
                )
                for x, title, rng in panels
            ],
            caption=caption,
        )
