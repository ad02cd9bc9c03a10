"""Inject the faults a cluster throws at planned iterations (tests and the soak run).

Used by ``tests/test_reliability/test_faults.py`` and ``tools/analysis/soak_faults.py``;
never in a real config.
"""

from __future__ import annotations

import errno
import json
import os
import os.path as osp
import signal
from typing import List

from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmdistilldepth.registry import HOOKS

from .. import checkpoint_io

#: The faults this hook can inject (docs/reliability.md has the table).
FAULT_KINDS = (
    'kill',  # SIGKILL this rank (a node lost, the OOM killer)
    'sigterm',  # SIGTERM to this rank and its data-loading workers (preemption)
    'sigusr1',  # SIGUSR1 likewise (slurm --signal=USR1@S: the time limit is near)
    'kill_worker',  # SIGKILL one data-loading worker of this rank
    'truncate',  # cut this iteration's checkpoint in half, then SIGKILL (node died)
    'enospc',  # the next checkpoint write fails with "No space left on device"
)


def _children(pid: int) -> List[int]:
    """The child processes of ``pid`` (Linux ``/proc``)."""
    path = f'/proc/{pid}/task/{pid}/children'
    try:
        with open(path) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


@HOOKS.register_module()
class FaultInjectionHook(Hook):
    """After iteration ``iter`` (1-based, as checkpoints count), inject ``kind`` on ``rank``.

    The plan is a JSON file: ``[{"id": 0, "iter": 5, "rank": 1, "kind": "kill"}, ...]``
    (kinds: :data:`FAULT_KINDS`). Each fault is injected once: its id is appended to
    ``<plan>.done`` (synced) before it happens, so that a resumed run, which redoes
    the iterations since the last checkpoint, does not meet it again.

    Args:
        plan (str): the plan file.
    """

    priority = 'VERY_HIGH'  # before the checkpoint hook of the same iteration

    def __init__(self, plan: str) -> None:
        self.plan_path = plan
        self.done_path = plan + '.done'
        with open(plan) as f:
            self.plan = json.load(f)

    def _done(self) -> set:
        if not osp.isfile(self.done_path):
            return set()
        with open(self.done_path) as f:
            return {int(line) for line in f if line.strip()}

    def _mark(self, fault_id: int) -> None:
        with open(self.done_path, 'a') as f:
            f.write(f'{fault_id}\n')
            f.flush()
            os.fsync(f.fileno())

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._inject(runner, runner.iter + 1, before=True)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._inject(runner, runner.iter + 1, before=False)

    def _inject(self, runner, step: int, before: bool) -> None:
        rank = get_rank()
        done = None
        for fault in self.plan:
            if fault['iter'] != step or fault.get('rank', 0) != rank:
                continue
            # a write must fail at this iteration's save: arm it before the iteration
            if (fault['kind'] == 'enospc') != before:
                continue
            done = self._done() if done is None else done
            if fault['id'] in done:
                continue
            self._mark(fault['id'])
            runner.logger.warning(f'fault injection: {fault["kind"]} after iteration {step}')
            getattr(self, '_' + fault['kind'])(runner, step)

    # --- the faults --------------------------------------------------------------

    def _kill(self, runner, step) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def _signal_group(self, number) -> None:
        for pid in _children(os.getpid()):
            os.kill(pid, number)
        os.kill(os.getpid(), number)

    def _sigterm(self, runner, step) -> None:
        self._signal_group(signal.SIGTERM)

    def _sigusr1(self, runner, step) -> None:
        self._signal_group(signal.SIGUSR1)

    def _kill_worker(self, runner, step) -> None:
        workers = _children(os.getpid())
        if not workers:
            raise RuntimeError('fault injection: kill_worker needs num_workers > 0')
        os.kill(workers[0], signal.SIGKILL)

    def _truncate(self, runner, step) -> None:
        # runs before the checkpoint hook: save this iteration's checkpoint first
        hook = next(h for h in runner.hooks if hasattr(h, '_save_checkpoint_with_step'))
        hook._save_checkpoint(runner)
        if get_rank() == 0:  # the rank that writes checkpoints
            with open(hook.last_ckpt, 'r+b') as f:
                f.truncate(osp.getsize(hook.last_ckpt) // 2)
        os.kill(os.getpid(), signal.SIGKILL)

    def _enospc(self, runner, step) -> None:
        real = checkpoint_io._write_and_sync

        def full_disk(path, data):
            checkpoint_io._write_and_sync = real  # this write only
            with open(path, 'wb') as f:  # half a file, as a filling disk leaves it
                f.write(bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

        checkpoint_io._write_and_sync = full_disk
