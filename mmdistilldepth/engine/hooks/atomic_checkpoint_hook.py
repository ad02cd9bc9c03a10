"""MMEngine's CheckpointHook, with saves that a kill cannot leave half-written."""

from __future__ import annotations

import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from mmdistilldepth.registry import HOOKS

from ..checkpoint_io import atomic_write_text, stale_temporary_files


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

    Everything else (``interval``, ``save_best``, ``max_keep_ckpts``, ...) is
    MMEngine's ``CheckpointHook``.
    """

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

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
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
