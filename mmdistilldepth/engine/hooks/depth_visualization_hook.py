"""Pictures of what the student learns from: RGB | teacher | student | difference."""
from __future__ import annotations

from typing import Dict, Optional

import cv2
import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdistilldepth.registry import HOOKS


def colorize(disparity: np.ndarray, lo: Optional[float] = None,
             hi: Optional[float] = None, cmap: int = cv2.COLORMAP_INFERNO) -> np.ndarray:
    """(H, W) map -> RGB uint8 (H, W, 3), robustly scaled to its 2nd-98th percentile."""
    if lo is None or hi is None:
        lo, hi = np.percentile(disparity, [2, 98])
    scaled = np.clip((disparity - lo) / max(hi - lo, 1e-12), 0, 1)
    return cv2.applyColorMap((scaled * 255).astype(np.uint8), cmap)[..., ::-1]


def depth_panel(rgb: torch.Tensor, teacher: torch.Tensor, student: torch.Tensor) -> np.ndarray:
    """One row: RGB | teacher | student | |difference|.

    The student is aligned to the teacher by a least-squares scale and shift first
    (both are affine-invariant disparity), so the difference shows shape, not scale.

    Args:
        rgb (Tensor): (3, H, W) in [0, 1].
        teacher (Tensor): (1, H, W) disparity.
        student (Tensor): (1, H, W) disparity.

    Returns:
        ndarray: RGB uint8 (H, 4W, 3).
    """
    t = teacher[0].double().numpy()
    s = student[0].double().numpy()
    a = np.stack([s.ravel(), np.ones(s.size)], 1)
    scale, shift = np.linalg.lstsq(a, t.ravel(), rcond=None)[0]
    aligned = scale * s + shift
    lo, hi = np.percentile(t, [2, 98])
    diff = np.abs(aligned - t)
    image = (rgb.permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
    return np.concatenate([image, colorize(t, lo, hi), colorize(aligned, lo, hi),
                           colorize(diff, 0.0, max(hi - lo, 1e-12) * 0.25,
                                    cv2.COLORMAP_VIRIDIS)], axis=1)


@HOOKS.register_module()
class DepthVisualizationHook(Hook):
    """Every ``interval`` training iterations, draw the shared crop and one local crop.

    Each drawing is one image with a row per view: RGB | teacher | student |
    difference, for the first image of the batch (the local row: the teacher's local
    crop and the matching region of the student's global prediction). It goes to the
    runner's visualizer, i.e. to every configured backend: ``LocalVisBackend`` writes
    PNGs under ``work_dir/<timestamp>/vis_data/vis_image/``; add
    ``dict(type='TensorboardVisBackend')`` to ``vis_backends`` for TensorBoard.
    The distiller keeps the tensors of that iteration only, so drawing costs no
    extra teacher or student call.

    Args:
        interval (int): draw every this many iterations.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 500) -> None:
        self.interval = interval

    @staticmethod
    def _distiller(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return model if hasattr(model, 'record_visuals') else None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = self._distiller(runner)
        if model is not None:
            model.record_visuals = self.every_n_train_iters(runner, self.interval)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        model = self._distiller(runner)
        if model is None or not model.record_visuals or not model.visuals:
            return
        v: Dict[str, torch.Tensor] = model.visuals
        rows = [depth_panel(v['shared_rgb'], v['shared_teacher'], v['shared_student'])]
        if 'local_rgb' in v:
            rows.append(depth_panel(v['local_rgb'], v['local_teacher'], v['local_student']))
        runner.visualizer.add_image('distillation', np.concatenate(rows, axis=0),
                                    step=runner.iter + 1)
        model.record_visuals = False
        model.visuals = {}
