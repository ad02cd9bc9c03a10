"""Fault handling in-process, fast: a full disk while saving, a corrupt checkpoint,
a changed teacher, a non-finite loss on one rank of two (gloo).

docs/reliability.md has the table; test_faults.py runs the whole-run faults.
"""

import errno
import logging
import os
import socket
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mmdistilldepth.engine import AtomicCheckpointHook, checkpoint_io
from mmdistilldepth.models.checkpoint_loading import (
    check_teachers_unchanged,
    checkpoint_problem,
    resume_checkpoint,
    teacher_fingerprints,
)
from mmdistilldepth.utils import UserInputError
from tests.conftest import load_tool
from tests.test_reliability.test_checkpoints import _toy_runner
from tests.test_reliability.tiny_quickstart import QUICKSTART


def _full_disk_at(monkeypatch, failing):
    """Writes of checkpoints named in ``failing`` fail half-way with ENOSPC."""
    real = checkpoint_io._write_and_sync

    def write(path, data):
        if any(os.path.basename(path).startswith(name + '.tmp-') for name in failing):
            with open(path, 'wb') as f:
                f.write(bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        real(path, data)

    monkeypatch.setattr(checkpoint_io, '_write_and_sync', write)


def _errors_of(runner):
    records = []

    class _Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    runner.logger.addHandler(_Keep(level=logging.ERROR))
    return records


def test_a_full_disk_while_saving_warns_keeps_the_previous_checkpoint_and_goes_on(
    tmp_path, monkeypatch
):
    _full_disk_at(monkeypatch, ['iter_4.pth'])
    work_dir = tmp_path / 'run'
    runner = _toy_runner(work_dir, max_iters=6)
    errors = _errors_of(runner)
    runner.train()
    files = sorted(os.listdir(work_dir))
    assert 'iter_4.pth' not in files and not [f for f in files if '.tmp-' in f]
    assert 'iter_2.pth' in files and 'iter_6.pth' in files  # training went on
    torch.load(work_dir / 'iter_2.pth', weights_only=True)  # whole
    (error,) = [m for m in errors if 'CHECKPOINT NOT SAVED' in m]
    assert 'iter_4.pth' in error and 'disk is full' in error and 'iter_2.pth' in error
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_6.pth')


def test_failed_saves_in_a_row_stop_the_run_in_one_line(tmp_path, monkeypatch):
    _full_disk_at(monkeypatch, ['iter_2.pth', 'iter_4.pth', 'iter_6.pth'])
    runner = _toy_runner(tmp_path / 'run', max_iters=10)
    hook = next(h for h in runner.hooks if isinstance(h, AtomicCheckpointHook))
    with pytest.raises(UserInputError) as info:
        runner.train()
    message = str(info.value)
    assert len(message.splitlines()) == 1 and hook.failed_saves == 3
    assert 'iter_6.pth' in message and 'disk is full' in message and '--resume' in message
    assert not [f for f in os.listdir(tmp_path / 'run') if f.endswith('.pth') or '.tmp-' in f]


def _save(path, meta=None):
    torch.save({'state_dict': {'student.w': torch.arange(300000.0)}, 'meta': meta or {}}, path)


def test_a_corrupt_or_truncated_newest_checkpoint_falls_back_to_the_previous_good_one(tmp_path):
    for step in (2, 4, 6):
        _save(tmp_path / f'iter_{step}.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_6.pth'))
    assert checkpoint_problem(str(tmp_path / 'iter_6.pth')) is None
    data = bytearray((tmp_path / 'iter_6.pth').read_bytes())
    data[len(data) // 2] ^= 0xFF  # torch.load reads this without complaint
    (tmp_path / 'iter_6.pth').write_bytes(bytes(data))
    assert 'CRC' in checkpoint_problem(str(tmp_path / 'iter_6.pth'))
    (tmp_path / 'iter_4.pth').write_bytes((tmp_path / 'iter_4.pth').read_bytes()[:5000])
    notes = []
    assert resume_checkpoint(str(tmp_path), warn=notes.append) == str(tmp_path / 'iter_2.pth')
    assert len(notes) == 2 and 'iter_6.pth' in notes[0] and 'iter_4.pth' in notes[1]
    assert 'previous good checkpoint' in notes[1] and 'iter_2.pth' in notes[1]
    # nothing whole: one line naming them all
    (tmp_path / 'iter_2.pth').write_bytes(b'')
    with pytest.raises(UserInputError, match='iter_6.pth.*iter_4.pth.*iter_2.pth'):
        resume_checkpoint(str(tmp_path), warn=notes.append)


def test_a_missing_or_changed_teacher_stops_the_resume_naming_the_file(tmp_path, capsys):
    teacher = tmp_path / 'teacher.pth'
    teacher.write_bytes(os.urandom(3 << 20))
    model = dict(
        student=dict(checkpoint=str(tmp_path / 'student_start.pth')),  # not a teacher
        teacher=dict(type='DepthAnythingTeacher', checkpoint=str(teacher)),
    )
    stored = teacher_fingerprints(model)
    assert list(stored) == ['model.teacher.checkpoint']
    # the hook writes them into every checkpoint's meta
    hook = AtomicCheckpointHook(interval=1, by_epoch=False)
    hook._teachers = stored
    checkpoint = {'meta': {}}
    hook.before_save_checkpoint(None, checkpoint)
    work_dir = tmp_path / 'run'
    work_dir.mkdir()
    student = work_dir / 'iter_2.pth'
    _save(student, checkpoint['meta'])
    check_teachers_unchanged(str(student), model)  # unchanged: fine
    moved = tmp_path / 'moved.pth'
    teacher.rename(moved)
    with pytest.raises(UserInputError, match=f'teacher checkpoint {teacher} .*does not exist'):
        check_teachers_unchanged(str(student), model)
    model['teacher']['checkpoint'] = str(moved)  # the same file elsewhere: fine
    check_teachers_unchanged(str(student), model)
    with open(moved, 'r+b') as f:  # same size, other content at its end
        f.seek(-10, os.SEEK_END)
        f.write(b'0123456789')
    with pytest.raises(UserInputError, match=f'teacher checkpoint {moved} .*changed'):
        check_teachers_unchanged(str(student), model)
    # tools/train.py --resume stops before training, in one line
    (work_dir / 'last_checkpoint').write_text(str(student))
    teacher.write_bytes(b'')
    with pytest.raises(SystemExit) as info:
        load_tool('train.py').main([QUICKSTART, '--work-dir', str(work_dir), '--resume'])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1, err
    assert str(teacher) in err and 'changed' in err


def _one_rank_nan(rank, port, results):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=2)
    from mmengine.logging import MessageHub

    from mmdistilldepth.engine.optim import SkipNonFiniteOptimWrapper

    MessageHub.get_instance(f'nan-{rank}')
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)  # not DDP: gradients are NOT averaged over the ranks
    wrapper = SkipNonFiniteOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = [p.detach().clone() for p in model.parameters()]
    loss = model(torch.ones(2, 3)).sum()
    if rank == 1:
        loss = loss * float('nan')
    wrapper.update_params(loss)
    unchanged = all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    results.put((rank, (unchanged, wrapper.nonfinite_skipped)))
    dist.destroy_process_group()


@pytest.mark.skipif(sys.platform == 'win32', reason='fork, gloo on POSIX')
def test_a_non_finite_loss_on_one_rank_skips_the_step_on_every_rank():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    queue = mp.get_context('fork').SimpleQueue()  # fork: no re-import, fast
    mp.start_processes(_one_rank_nan, args=(port, queue), nprocs=2, join=True, start_method='fork')
    results = dict(queue.get() for _ in range(2))
    # rank 0's own loss and gradients were finite: it skips because the ranks agree
    assert results == {0: (True, 1), 1: (True, 1)}
