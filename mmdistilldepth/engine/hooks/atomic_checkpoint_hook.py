"""MMEngine's CheckpointHook, with saves that a kill, a full disk or a preemption cannot spoil."""

from __future__ import annotations

import copy
import errno
import os
import os.path as osp
import signal
import threading
from typing import Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.hooks import CheckpointHook

from mmdistilldepth.registry import HOOKS
from mmdistilldepth.utils.cli import UserInputError

from ..checkpoint_io import atomic_write_text, stale_temporary_files

#: The student checkpoint's ``meta`` key holding the teachers' fingerprints.
TEACHER_META_KEY = 'teacher_checkpoints'


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose checkpoints and ``last_checkpoint`` pointer are atomic.

    A run killed at any moment (``kill -9``, preemption, a node failure) leaves a
    work dir that ``--resume`` can continue from:

    - every checkpoint file is written to a temporary file and renamed over its
      name (``AtomicLocalBackend``), for local work dirs; remote stores given with
      ``backend_args`` keep their own backend (their uploads are whole or absent);
    - ``last_checkpoint`` is updated the same way, only after its checkpoint is
      complete;
    - with ``max_keep_ckpts``, the oldest checkpoint is deleted only after the new
      one and the pointer are written (MMEngine deletes it first), so a kill never
      leaves fewer complete checkpoints than were kept;
    - leftovers of killed saves (``*.tmp-<pid>``) are removed when training starts.

    A save that fails (a full disk, an unwritable or vanished work dir: any
    ``OSError``) leaves no file under the checkpoint's name and the previous
    checkpoint and pointer untouched. The run logs the failure as an error and goes
    on, so that a disk filled for a while by someone else does not end a week-long
    run; after ``max_failed_saves`` failed saves in a row, or when the save of the
    last iteration fails, it stops with a one-line error (training on with no
    checkpoint at all would put ever more work at risk).

    Preemption: on one of ``save_on_signals`` (default ``SIGTERM`` and ``SIGUSR1``:
    Slurm's preemption and ``--signal=USR1@SECONDS``) the run saves a checkpoint at
    the iteration it is in and stops cleanly (``stopped_by_signal`` then names the
    signal; ``tools/train.py`` exits with status 128 + its number). Under DDP the
    ranks agree on the iteration (an all-reduce of the flag after each iteration),
    so a signal that reaches one rank only stops them all at the same iteration.
    Data-loading workers ignore these signals (``DepthRunner`` sets that up), so a
    signal sent to the whole job does not kill them first.

    The fingerprints of the teachers' checkpoints (:func:`teacher_fingerprints`) are
    stored in each checkpoint's ``meta['teacher_checkpoints']``; ``tools/train.py
    --resume`` stops before training when one is missing or changed.

    Everything else (``interval``, ``save_best``, ``max_keep_ckpts``, ...) is
    MMEngine's ``CheckpointHook``.

    Args:
        save_on_signals (Sequence[str]): the signals that save and stop; ``()`` keeps
            the default actions.
        max_failed_saves (int): failed saves in a row that stop the run.
        **kwargs: MMEngine's ``CheckpointHook`` arguments.
    """

    def __init__(
        self,
        *args,
        save_on_signals: Sequence[str] = ('SIGTERM', 'SIGUSR1'),
        max_failed_saves: int = 3,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.save_on_signals = tuple(save_on_signals)
        self.max_failed_saves = max_failed_saves
        self.failed_saves = 0
        #: the name of the signal that stopped the run, else None
        self.stopped_by_signal: Optional[str] = None
        self._received: int = 0
        self._old_handlers = {}
        self._teachers = {}

    # --- start and end -------------------------------------------------------------

    def before_run(self, runner) -> None:
        """Allow-list MMEngine's checkpoint objects before the runner resumes (weights_only)."""
        super().before_run(runner)
        from mmdistilldepth.models.checkpoint_loading import allow_mmengine_checkpoints

        allow_mmengine_checkpoints()

    def before_train(self, runner) -> None:
        out_dir = self.out_dir if self.out_dir is not None else runner.work_dir
        local = '://' not in str(out_dir)
        if local and self.backend_args is None and self.file_client_args is None:
            self.backend_args = dict(backend='atomic_local')
        super().before_train(runner)
        if local and is_main_process():
            for folder in {self.out_dir, runner.work_dir}:
                for path in stale_temporary_files(folder):
                    os.remove(path)
                    runner.logger.warning(
                        f'removed {path}, the leftover of a checkpoint save that was interrupted'
                    )
        from mmdistilldepth.models.checkpoint_loading import teacher_fingerprints

        self._teachers = teacher_fingerprints(runner.cfg.get('model') or {})
        self._install_signal_handlers()

    def after_train(self, runner) -> None:
        super().after_train(runner)
        self._restore_signal_handlers()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for name in self.save_on_signals:
            number = getattr(signal, name, None)
            if number is None:  # e.g. SIGUSR1 on Windows
                continue
            self._old_handlers[number] = signal.signal(number, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for number, handler in self._old_handlers.items():
            signal.signal(number, handler)
        self._old_handlers = {}

    def _on_signal(self, number, frame) -> None:
        self._received = number

    # --- teachers ------------------------------------------------------------------

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        super().before_save_checkpoint(runner, checkpoint)
        if self._teachers:
            checkpoint.setdefault('meta', {})[TEACHER_META_KEY] = copy.deepcopy(self._teachers)

    # --- preemption ----------------------------------------------------------------

    def _signal_agreed(self) -> int:
        """The signal received by any rank (0: none); every rank gets the same answer."""
        if get_world_size() == 1:
            return self._received
        flag = torch.tensor([self._received], dtype=torch.int64)
        all_reduce(flag, op='max')
        return int(flag.item())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        number = self._signal_agreed()
        if not number:
            return
        name = signal.Signals(number).name
        step = runner.iter + 1
        if self.by_epoch or not (self.last_ckpt or '').endswith(self.filename_tmpl.format(step)):
            runner.logger.warning(f'{name} received: saving a checkpoint at iteration {step}')
            self._save_checkpoint(runner)
        runner.logger.warning(
            f'{name}: stopped at iteration {step}; `tools/train.py ... --resume` continues '
            f'from {self.last_ckpt}'
        )
        self.stopped_by_signal = name
        runner.train_loop.stop_training = True

    # --- saving --------------------------------------------------------------------

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        kept, last = copy.copy(self.keep_ckpt_ids), self.last_ckpt
        try:
            self._save_atomically(runner, step, meta)
        except OSError as exc:
            self.keep_ckpt_ids, self.last_ckpt = kept, last
            runner.message_hub.update_info('keep_ckpt_ids', list(kept))
            runner.message_hub.update_info('last_ckpt', last)
            self.failed_saves += 1
            path = osp.join(str(self.out_dir), self.filename_tmpl.format(step))
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            if exc.errno == errno.ENOSPC:
                reason += ' (the disk is full)'
            kept_note = f'the last checkpoint is still {last}' if last else 'no checkpoint yet'
            if self.failed_saves >= self.max_failed_saves or self.is_last_train_iter(runner):
                raise UserInputError(
                    f'could not save {path}: {reason}, {self.failed_saves} failed save(s) '
                    f'in a row; {kept_note}; free space or fix the work dir, then resume '
                    'with --resume'
                ) from None
            runner.logger.error(
                f'CHECKPOINT NOT SAVED: could not write {path}: {reason}; {kept_note}; '
                f'training goes on ({self.failed_saves} failed save(s) in a row, the run '
                f'stops at {self.max_failed_saves})'
            )
        else:
            self.failed_saves = 0

    def _save_atomically(self, runner, step, meta) -> None:
        expired = []
        if self.max_keep_ckpts > 0 and (not self.keep_ckpt_ids or self.keep_ckpt_ids[-1] != step):
            while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
                expired.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            # before saving, so that the checkpoint's message hub knows its successors
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), str(self.last_ckpt))
        for old in expired:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # DeepSpeed saves folders
                self.file_backend.rmtree(path)
        # MMEngine logs "Saving checkpoint at N iterations" when a save starts
        runner.logger.info(f'checkpoint saved: {self.last_ckpt}')
