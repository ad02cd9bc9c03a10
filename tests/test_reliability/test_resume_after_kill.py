"""kill -9 at a random iteration, then --resume: the same student as an uninterrupted run.

The quickstart at a tiny size (tools/train.py in subprocesses). Data order (the
InfiniteSampler's seed, and MMEngine replaying the batches already trained), the crops
(CrossContextCrops draws from (seed, sample, draw)) and the teacher (SimulatedTeacher
draws from the view's content) are all reproducible, the optimizer, the schedulers and
the message hub come back from the checkpoint: the final weights must be bit-identical.
"""

import os
import os.path as osp
import random
import signal
import subprocess
import time

import pytest
import torch

from tests.test_reliability.tiny_quickstart import (
    NO_VALIDATION,
    child_env,
    run,
    student_weights,
    tiny_options,
    train_command,
)

MAX_ITERS = 14
INTERVAL = 2


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('uninterrupted')
    run(train_command(work_dir, tiny_options(MAX_ITERS, INTERVAL, 0, NO_VALIDATION)))
    return student_weights(osp.join(work_dir, f'iter_{MAX_ITERS}.pth'))


def _start_and_kill(work_dir, options):
    """Start a run, SIGKILL it (and its workers) at a random moment after a checkpoint."""
    process = subprocess.Popen(
        train_command(work_dir, options),
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    pointer = osp.join(work_dir, 'last_checkpoint')
    deadline = time.time() + 120
    while not osp.exists(pointer) and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.25))  # a few iterations at most
    os.killpg(process.pid, signal.SIGKILL)  # the session this test started
    process.wait()
    assert process.returncode == -signal.SIGKILL, 'the run ended before it could be killed'
    with open(pointer) as f:
        latest = f.read().strip()
    done = int(osp.basename(latest)[len('iter_') : -len('.pth')])
    assert done < MAX_ITERS, 'the run finished before the kill'
    return done


@pytest.mark.parametrize('num_workers', [0, 1])
def test_kill_and_resume_give_the_uninterrupted_weights(uninterrupted, tmp_path, num_workers):
    options = tiny_options(MAX_ITERS, INTERVAL, num_workers, NO_VALIDATION)
    done = _start_and_kill(tmp_path, options)
    # every checkpoint left behind is complete and loads with weights_only=True
    for name in os.listdir(tmp_path):
        if name.endswith('.pth'):
            torch.load(tmp_path / name, map_location='cpu', weights_only=True)
    log = run(train_command(tmp_path, options, resume=True)).stdout
    assert f'Advance dataloader {done} steps' in log
    resumed = student_weights(osp.join(tmp_path, f'iter_{MAX_ITERS}.pth'))
    assert resumed.keys() == uninterrupted.keys()
    different = [k for k in resumed if not torch.equal(resumed[k], uninterrupted[k])]
    assert not different, f'killed after iteration {done}: {different[:5]} differ'
