"""Assistant-guided distillation: a primary teacher paired with an assistant."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from mmengine.logging import MessageHub

from mmdistilldepth.evaluation.functional.alignment import fit_scale_shift_batched
from mmdistilldepth.registry import MODELS

from .base_teacher import BaseTeacher


def align_scale_shift(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Least-squares scale and shift per image that map ``source`` onto ``target``.

    The fit is :func:`~mmdistilldepth.evaluation.functional.fit_scale_shift_batched`.

    Args:
        source (Tensor): (B, 1, H, W).
        target (Tensor): (B, 1, H, W).

    Returns:
        Tensor: ``scale * source + shift``, (B, 1, H, W).
    """
    scale, shift = fit_scale_shift_batched(source, target)
    view = (-1,) + (1,) * (source.dim() - 1)
    return (scale.view(view) * source.float() + shift.view(view)).to(source.dtype)


@MODELS.register_module()
class AssistantGuidedTeacher(BaseTeacher):
    """Pair a primary teacher with an assistant (the paper: DAv2 + GenPercept, 7:3).

    ``mode='select'`` (the paper's scheme): each iteration one teacher supervises the
    whole batch, the assistant with probability ``assistant_prob``. Only the chosen
    teacher runs, so there is still one teacher call per iteration. The draw is a
    pure function of ``(seed, iteration)``, the iteration read from MMEngine's
    message hub: every DDP rank is at the same iteration, so all ranks pick the same
    teacher without communicating, and a resumed run repeats the draws of an
    uninterrupted one. Outside a runner a call counter stands in for the iteration.

    ``mode='avg'``: both teachers run; the assistant is aligned to the primary by a
    least-squares scale and shift per image, and the two are blended per pixel by
    their agreement: with ``r = |a - p| / mean|p - median(p)|``, the assistant's
    weight is ``0.5 * exp(-r / tau)``. Where they agree the result is their mean,
    where they disagree it falls back to the primary, whose global structure the
    paper trusts more.

    Args:
        primary (dict): config of the primary teacher.
        assistant (dict): config of the assistant teacher.
        mode (str): ``'select'`` or ``'avg'``.
        assistant_prob (float): probability of drawing the assistant (``select``).
        tau (float): agreement scale of ``avg``.
        seed (int): seed of the per-iteration draw.
    """

    def __init__(
        self,
        primary: dict,
        assistant: dict,
        mode: str = 'select',
        assistant_prob: float = 0.3,
        tau: float = 0.5,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if mode not in ('select', 'avg'):
            raise ValueError(
                f"AssistantGuidedTeacher: mode must be 'select' or 'avg', got {mode!r}"
            )
        if not 0.0 <= assistant_prob <= 1.0:
            raise ValueError(
                f'AssistantGuidedTeacher: assistant_prob must lie in [0, 1], got {assistant_prob}'
            )
        self.primary = MODELS.build(primary)
        self.assistant = MODELS.build(assistant)
        self.uses_gt_depth = any(
            getattr(t, 'uses_gt_depth', False) for t in (self.primary, self.assistant)
        )
        self.mode = mode
        self.assistant_prob = assistant_prob
        self.tau = tau
        self.seed = seed
        self._calls = 0
        self.last_choice: Optional[str] = None
        self.freeze()

    def _iteration(self) -> int:
        hub = MessageHub.get_current_instance()
        iteration = hub.get_info('iter') if hub is not None else None
        return int(iteration) if iteration is not None else self._calls

    def choose(self, iteration: int) -> str:
        """Which teacher supervises at ``iteration`` (``'primary'`` or ``'assistant'``)."""
        draw = np.random.default_rng([self.seed, iteration]).random()
        return 'assistant' if draw < self.assistant_prob else 'primary'

    def _predict(
        self, images: torch.Tensor, gt_depth: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        iteration = self._iteration()
        self._calls += 1
        if self.mode == 'select':
            self.last_choice = self.choose(iteration)
            teacher = self.assistant if self.last_choice == 'assistant' else self.primary
            return teacher.predict(images, gt_depth=gt_depth)
        self.last_choice = 'avg'
        primary = self.primary.predict(images, gt_depth=gt_depth)
        assistant = align_scale_shift(self.assistant.predict(images, gt_depth=gt_depth), primary)
        flat = primary.flatten(1)
        spread = (flat - flat.median(1, keepdim=True).values).abs().mean(1)
        residual = (assistant - primary).abs() / spread.clamp(min=1e-6).view(-1, 1, 1, 1)
        weight = 0.5 * torch.exp(-residual / self.tau)
        return (1 - weight) * primary + weight * assistant
