"""Faults a cluster throws, injected into the tiny quickstart; the resumed run ends exact.

docs/reliability.md has the table of faults; each test below is one or more of its rows.
The runs are tools/train.py (and tools/dist_train.sh) in subprocesses; the faults come
from ``FaultInjectionHook`` (a plan of iterations, ranks and kinds, each fault once),
and every restart is the same command with ``--resume``, as a cluster would run it.
"""

import os.path as osp
import signal
import sys

import pytest
import torch

from tests.test_reliability.tiny_quickstart import (
    QUICKSTART,
    different_tensors,
    dist_train,
    fault_config,
    fault_options,
    run,
    run_any,
    student_weights,
    train_command,
)

MAX_ITERS = 10
INTERVAL = 2
WORKERS = 1  # one data-loading worker: the killed-worker fault needs one


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('uninterrupted')
    run(train_command(work_dir, fault_options(MAX_ITERS, INTERVAL, WORKERS)))
    return student_weights(osp.join(work_dir, f'iter_{MAX_ITERS}.pth'))


def _pointer(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def test_sigterm_killed_worker_and_truncated_checkpoint_then_exact_weights(uninterrupted, tmp_path):
    """One run meets three faults; the same ``--resume`` command restarts it each time."""
    config = fault_config(
        tmp_path,
        [
            dict(id=0, iter=3, rank=0, kind='sigterm'),  # to the process and its worker
            dict(id=1, iter=5, rank=0, kind='kill_worker'),
            dict(id=2, iter=8, rank=0, kind='truncate'),  # iter_8.pth cut, then kill -9
        ],
    )
    work_dir = tmp_path / 'run'
    command = train_command(
        work_dir, fault_options(MAX_ITERS, INTERVAL, WORKERS), resume=True, config=config
    )

    # SIGTERM: a checkpoint at the current iteration, a clean exit with 128 + 15
    first = run_any(command)
    assert first.returncode == 128 + signal.SIGTERM, first.stdout[-3000:]
    assert 'SIGTERM: stopped at iteration 3' in first.stdout
    assert _pointer(work_dir) == str(work_dir / 'iter_3.pth')
    assert 'Traceback' not in first.stdout

    # a killed data-loading worker: no hang (run_any has a timeout), a failed exit
    second = run_any(command)
    assert second.returncode == 1, second.stdout[-3000:]
    assert 'Advance dataloader 3 steps' in second.stdout
    # usually one line; PyTorch raises the worker's death from a signal handler, and
    # when that lands while Python prints another error the process ends without it
    lines = [ln for ln in second.stdout.splitlines() if 'train.py: error:' in ln]
    assert len(lines) <= 1, second.stdout[-3000:]
    assert all('a data-loading worker died' in ln and '--resume' in ln for ln in lines)
    assert _pointer(work_dir) == str(work_dir / 'iter_4.pth')

    # the newest checkpoint truncated (the node died while it was written)
    third = run_any(command)
    assert third.returncode == -signal.SIGKILL, third.stdout[-3000:]
    assert _pointer(work_dir) == str(work_dir / 'iter_8.pth')
    with pytest.raises(Exception):
        torch.load(work_dir / 'iter_8.pth', map_location='cpu', weights_only=True)

    # named in one line, the previous good checkpoint used, the schedule finished
    last = run(command)
    bad, good = work_dir / 'iter_8.pth', work_dir / 'iter_6.pth'
    named = [ln for ln in last.stdout.splitlines() if f'resume: {bad} is unusable' in ln]
    assert named and f'resuming from the previous good checkpoint {good}' in named[0]
    assert 'Advance dataloader 6 steps' in last.stdout
    final = student_weights(work_dir / f'iter_{MAX_ITERS}.pth')
    assert not different_tensors(final, uninterrupted)


@pytest.mark.skipif(sys.platform == 'win32', reason='torchrun with gloo on POSIX')
def test_lost_rank_and_sigterm_on_one_rank_under_torchrun_then_exact_weights(tmp_path):
    """2 CPU processes (gloo): torchrun restarts the group, which resumes by itself."""
    max_iters = 8
    options = fault_options(max_iters, INTERVAL, 0)
    reference = dist_train(QUICKSTART, tmp_path / 'reference', options, MAX_RESTARTS='0')
    assert reference.returncode == 0, reference.stdout[-3000:]
    config = fault_config(
        tmp_path,
        [
            dict(id=0, iter=3, rank=1, kind='kill'),  # rank 1 lost after iteration 3
            dict(id=1, iter=5, rank=0, kind='sigterm'),  # rank 0 only: both must stop
        ],
    )
    faulty = dist_train(config, tmp_path / 'run', options, MAX_RESTARTS='2')
    log = faulty.stdout
    assert faulty.returncode == 0, log[-5000:]
    # no --resume was given: the restarted groups resumed by themselves
    assert 'TORCHELASTIC_RESTART_COUNT=1: resuming by itself' in log
    assert 'Advance dataloader 2 steps' in log  # the checkpoint before the lost rank
    assert 'SIGTERM: stopped at iteration 5' in log
    assert 'TORCHELASTIC_RESTART_COUNT=2: resuming by itself' in log
    assert 'Advance dataloader 5 steps' in log
    name = f'iter_{max_iters}.pth'
    final = student_weights(tmp_path / 'run' / name)
    assert not different_tensors(final, student_weights(tmp_path / 'reference' / name))
