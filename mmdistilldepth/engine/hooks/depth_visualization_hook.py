"""Pictures of what the student learns from: RGB | teacher | student | error."""

from __future__ import annotations

from typing import Dict

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdistilldepth.evaluation.functional.alignment import fit_scale_shift
from mmdistilldepth.registry import HOOKS
from mmdistilldepth.visualization import colorize, panel_row, robust_range

__all__ = ['DepthVisualizationHook', 'depth_panel', 'colorize']  # colorize: the old path


def depth_panel(
    rgb: torch.Tensor, teacher: torch.Tensor, student: torch.Tensor, caption: str = None
) -> np.ndarray:
    """One labelled row: RGB | teacher | student | error, with colour bars.

    The student is aligned to the teacher by a least-squares scale and shift first
    (both are affine-invariant disparity), so the error shows shape, not scale.
    Teacher and aligned student share one colour scale (the teacher's 2nd-98th
    percentile); the error is ``|aligned student - teacher|`` on a scale of a
    quarter of that range.

    Args:
        rgb (Tensor): (3, H, W) in [0, 1].
        teacher (Tensor): (1, H, W) disparity.
        student (Tensor): (1, H, W) disparity.
        caption (str, optional): a line above the row.

    Returns:
        ndarray: RGB uint8 (TITLE_HEIGHT + H + BAR_HEIGHT, 4W, 3), one more title
        strip on top with a caption (see :func:`~mmdistilldepth.visualization.panel_row`).
    """
    t, s = teacher[0].detach().cpu(), student[0].detach().cpu()
    scale, shift = fit_scale_shift(s, t)
    aligned = (s.double() * scale.double() + shift.double()).numpy()
    t = t.double().numpy()
    low, high = robust_range(t)
    diff_range = (0.0, max(high - low, 1e-12) * 0.25)
    image = (rgb.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    return panel_row(
        [
            (image, 'RGB', None, 'inferno'),
            (colorize(t, value_range=(low, high)), 'teacher', (low, high), 'inferno'),
            (colorize(aligned, value_range=(low, high)), 'student', (low, high), 'inferno'),
            (
                colorize(np.abs(aligned - t), value_range=diff_range, colormap='viridis'),
                'error',
                diff_range,
                'viridis',
            ),
        ],
        caption=caption,
    )


@HOOKS.register_module()
class DepthVisualizationHook(Hook):
    """Every ``interval`` training iterations, draw the shared crop and one local crop.

    Each drawing is one image with a labelled row per view: RGB | teacher | student
    | error, each depth panel with its colour bar, for the first image of the batch
    (the local row: the teacher's local crop and the matching region of the
    student's global prediction). It goes to the runner's visualizer, i.e. to every
    configured backend: ``LocalVisBackend`` writes PNGs under
    ``work_dir/<timestamp>/vis_data/vis_image/``, ``OptionalTensorboardVisBackend``
    (in the default runtime) to TensorBoard when it is installed. The distiller
    keeps the tensors of that iteration only, so drawing costs no extra teacher or
    student call.

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
        rows = [
            depth_panel(v['shared_rgb'], v['shared_teacher'], v['shared_student'], 'shared context')
        ]
        if 'local_rgb' in v:
            rows.append(
                depth_panel(v['local_rgb'], v['local_teacher'], v['local_student'], 'local patch')
            )
        runner.visualizer.add_image(
            'distillation', np.concatenate(rows, axis=0), step=runner.iter + 1
        )
        model.record_visuals = False
        model.visuals = {}
