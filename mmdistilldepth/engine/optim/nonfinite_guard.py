"""Skip an update whose loss or gradients are not finite, count it, and go on."""

from __future__ import annotations

import logging
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmdistilldepth.registry import OPTIM_WRAPPERS

#: The message-hub scalar that holds the number of skipped updates of the run.
NONFINITE_KEY = 'train/nonfinite_skipped'


class NonFiniteGuardMixin:
    """Mix into an ``OptimWrapper``: a non-finite loss or gradient skips the update.

    Every rank always runs the backward pass (DDP fails, or waits forever, when one
    rank skips a backward the others run). What is skipped is the optimizer step:

    - a rank whose loss is not finite backpropagates ``loss * nan`` instead, so all
      of its gradients are NaN; DDP averages gradients over the ranks, so every
      rank's gradients are then NaN, and all ranks skip together without any extra
      communication;
    - before the step, the gradients are checked (one norm over all of them): if
      one is not finite (a NaN or inf loss on any rank, or an overflow in a bf16
      backward), the step is skipped and the gradients are zeroed. Under DDP the
      ranks also all-reduce the finite flag (its minimum), so they decide together
      even where the gradients were not averaged (parameters outside DDP, a
      ``no_sync`` window): no rank steps while another skips, so the weights of the
      ranks never drift apart. Wrappers with a
      loss scaler (``AmpOptimWrapper``) leave the check to the scaler, which skips
      such steps itself; a step it skipped is counted the same way.

    The iteration still counts (schedulers, gradient accumulation and resuming stay
    in step with the loop); with gradient accumulation a skip also drops the
    gradients gathered so far in the window. Each skip is logged with the iteration
    and the reason, and ``nonfinite_skipped`` in the message hub holds the number of
    skipped updates of the run: ``LoggerHook`` prints it on every log line and
    checkpoints keep it, so a resumed run goes on counting.
    """

    #: check the gradients before the optimizer step (off when a loss scaler does)
    check_grads: bool = True
    #: the current update's loss was not finite on this rank
    _loss_not_finite: Optional[float] = None

    @property
    def nonfinite_skipped(self) -> int:
        """The number of updates skipped in this run so far."""
        history = self.message_hub.log_scalars.get(NONFINITE_KEY)
        return int(history.current()) if history is not None else 0

    def _record_skip(self, reason: str) -> None:
        total = self.nonfinite_skipped + 1
        self.message_hub.update_scalar(NONFINITE_KEY, total)
        iteration = self.message_hub.get_info('iter')
        where = f'iteration {iteration}' if iteration is not None else 'an update'
        print_log(
            f'{where}: skipped the optimizer update, {reason} ({total} skipped in this run)',
            logger='current',
            level=logging.WARNING,
        )

    def _skip_reason(self) -> str:
        if self._loss_not_finite is not None:
            return f'the loss is {self._loss_not_finite}'
        if get_world_size() > 1:
            return (
                'a gradient is not finite after averaging over the ranks (a non-finite '
                'loss on another rank, or an overflow)'
            )
        return 'a gradient is not finite'

    def _grads_finite(self) -> bool:
        grads = [
            p.grad
            for group in self.optimizer.param_groups
            for p in group['params']
            if p.grad is not None
        ]
        finite = (
            torch.isfinite(torch.nn.utils.get_total_norm(grads)).to(torch.int32).reshape(1)
            if grads
            else torch.ones(1, dtype=torch.int32)
        )
        if get_world_size() > 1:  # every rank takes the same decision
            all_reduce(finite, op='min')
        return bool(finite.item())

    def update_params(
        self,
        loss: torch.Tensor,
        step_kwargs: Optional[Dict] = None,
        zero_kwargs: Optional[Dict] = None,
    ) -> None:
        """``OptimWrapper.update_params``; the step is skipped when anything is not finite."""
        skipped_before = self.nonfinite_skipped
        self._loss_not_finite = None
        if not bool(torch.isfinite(loss.detach()).all()):
            self._loss_not_finite = float(loss.detach().float().sum())
            loss = loss * float('nan')  # every gradient of this rank NaN (see above)
        super().update_params(loss, step_kwargs, zero_kwargs)
        self._loss_not_finite = None
        if self.nonfinite_skipped == skipped_before:  # one value per iteration for the log
            self.message_hub.update_scalar(NONFINITE_KEY, skipped_before)

    def step(self, **kwargs) -> None:
        """The optimizer step, unless a gradient is not finite (then zeroed)."""
        if self.check_grads and not self._grads_finite():
            self.zero_grad()
            self._record_skip(self._skip_reason())
            return
        super().step(**kwargs)


@OPTIM_WRAPPERS.register_module()
class SkipNonFiniteOptimWrapper(NonFiniteGuardMixin, OptimWrapper):
    """``OptimWrapper`` that skips non-finite updates (:class:`NonFiniteGuardMixin`)."""


@OPTIM_WRAPPERS.register_module()
class SkipNonFiniteAmpOptimWrapper(NonFiniteGuardMixin, AmpOptimWrapper):
    """``AmpOptimWrapper`` (fp16, CUDA) whose skipped steps are counted and logged.

    The loss scaler checks the gradients and skips a step with non-finite ones (it
    then lowers the scale); a non-finite loss makes all gradients NaN
    (:class:`NonFiniteGuardMixin`), so the scaler skips that step too. Each step
    the scaler skipped is logged and counted in ``nonfinite_skipped``.
    """

    check_grads = False

    def step(self, **kwargs) -> None:
        scale = self.loss_scaler.get_scale()
        super().step(**kwargs)
        if self.loss_scaler.get_scale() < scale:  # the scaler found inf/NaN: no step
            self._record_skip(self._skip_reason())
