"""Checkpoints: atomic saves (also under kill -9), the atomic hook, safe loading in the tools."""

import multiprocessing
import os
import os.path as osp
import signal
import time

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmdistilldepth.engine import AtomicCheckpointHook, atomic_write_bytes, check_checkpoint_safe
from mmdistilldepth.utils import UserInputError
from tests.conftest import REPO_ROOT, load_tool

QUICKSTART = osp.join(REPO_ROOT, 'configs', 'quickstart', 'cross_context_synthetic.py')


def test_atomic_write_leaves_the_old_file_when_it_fails(tmp_path, monkeypatch):
    target = tmp_path / 'ckpt.pth'
    atomic_write_bytes(str(target), b'old')

    def broken_replace(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', broken_replace)
    with pytest.raises(OSError, match='disk full'):
        atomic_write_bytes(str(target), b'new' * 1000)
    assert target.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['ckpt.pth']  # the temporary file is gone too


def _write_forever(target, size, ready):
    atomic_write_bytes(target, b'A' * size)
    ready.set()
    while True:
        for letter in (b'B', b'A'):
            atomic_write_bytes(target, letter * size)


def test_a_kill_during_saves_never_leaves_a_partial_file(tmp_path):
    target, size = tmp_path / 'latest.pth', 8 << 20
    context = multiprocessing.get_context('fork')
    for delay in (0.05, 0.17, 0.31):
        ready = context.Event()
        writer = context.Process(target=_write_forever, args=(str(target), size, ready))
        writer.start()
        assert ready.wait(timeout=30)
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)  # the process this test started
        writer.join()
        data = target.read_bytes()
        assert len(data) == size and data in (b'A' * size, b'B' * size)


class _Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs) if isinstance(inputs, list) else inputs)
        return dict(loss=(out - 1).pow(2).mean()) if mode == 'loss' else out


class _Data(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i), 1.0]))


def _toy_runner(work_dir, max_iters=6, **kwargs):
    return Runner(
        model=_Toy(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_Data(),
            batch_size=2,
            num_workers=0,
            sampler=dict(type='InfiniteSampler', shuffle=True),
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=AtomicCheckpointHook(interval=2, by_epoch=False, max_keep_ckpts=2)
        ),
        randomness=dict(seed=0),
        default_scope='mmengine',
        **kwargs,
    )


def test_hook_writes_pointer_and_deletes_old_checkpoints_only_after_saving(tmp_path):
    work_dir = tmp_path / 'run'
    work_dir.mkdir()
    (work_dir / 'iter_2.pth.tmp-4242').write_bytes(b'half a checkpoint')
    runner = _toy_runner(work_dir)
    present_when_saving = []
    save = runner.save_checkpoint

    def recording_save(out_dir, filename, *args, **kwargs):
        present_when_saving.append(
            (filename, sorted(f for f in os.listdir(out_dir) if f.endswith('.pth')))
        )
        return save(out_dir, filename, *args, **kwargs)

    runner.save_checkpoint = recording_save
    runner.train()
    assert present_when_saving[-1] == ('iter_6.pth', ['iter_2.pth', 'iter_4.pth'])
    assert sorted(f for f in os.listdir(work_dir) if '.pth' in f) == ['iter_4.pth', 'iter_6.pth']
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_6.pth')
    # a resumed run finds it and keeps the bookkeeping of kept checkpoints
    resumed = _toy_runner(work_dir, max_iters=8, resume=True)
    resumed.train()
    assert sorted(f for f in os.listdir(work_dir) if '.pth' in f) == ['iter_6.pth', 'iter_8.pth']


class _Evil:
    def __reduce__(self):
        return (print, ('this must never run',))


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp('ckpts')
    runner = _toy_runner(root / 'run', max_iters=2)
    runner.train()
    good = root / 'run' / 'iter_2.pth'
    evil = root / 'evil.pth'
    torch.save({'state_dict': {'linear.weight': torch.zeros(1, 2)}, 'meta': _Evil()}, evil)
    truncated = root / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    safetensors = root / 'weights.safetensors'
    from safetensors.torch import save_file

    save_file({'w': torch.zeros(2)}, str(safetensors))
    return dict(
        good=str(good), evil=str(evil), truncated=str(truncated), safetensors=str(safetensors)
    )


def test_safe_checkpoints_pass_and_unsafe_ones_are_refused_in_one_line(checkpoints):
    check_checkpoint_safe(checkpoints['good'])  # MMEngine's own checkpoint is fine
    with pytest.raises(UserInputError) as info:
        check_checkpoint_safe(checkpoints['evil'], 'checkpoint to resume from')
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert checkpoints['evil'] in message and 'builtins.print' in message
    assert 'convert_checkpoint.py' in message and '--unsafe-allow-pickle' in message
    with pytest.raises(UserInputError, match='not a readable torch checkpoint.*truncated'):
        check_checkpoint_safe(checkpoints['truncated'])
    with pytest.raises(UserInputError, match='safetensors.*--to ours'):
        check_checkpoint_safe(checkpoints['safetensors'])


def _tool(name):
    return load_tool(f'{name}.py')


def _one_line_exit(capsys, main, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1, err
    return err


def test_train_and_test_tools_refuse_unsafe_checkpoints_in_one_line(checkpoints, tmp_path, capsys):
    train, test = _tool('train').main, _tool('test').main
    err = _one_line_exit(
        capsys,
        train,
        [QUICKSTART, '--work-dir', str(tmp_path / 'a'), '--resume', checkpoints['evil']],
    )
    assert 'checkpoint to resume from' in err and 'convert_checkpoint.py' in err
    err = _one_line_exit(
        capsys,
        train,
        [
            QUICKSTART,
            '--work-dir',
            str(tmp_path / 'a'),
            '--cfg-options',
            f'load_from={checkpoints["evil"]}',
        ],
    )
    assert 'load_from checkpoint' in err and 'builtins.print' in err
    # --resume alone: the checkpoint the work dir's pointer names is checked
    work_dir = tmp_path / 'b'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text(checkpoints['evil'])
    err = _one_line_exit(capsys, train, [QUICKSTART, '--work-dir', str(work_dir), '--resume'])
    assert checkpoints['evil'] in err
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'gone.pth'))
    err = _one_line_exit(capsys, train, [QUICKSTART, '--work-dir', str(work_dir), '--resume'])
    assert 'gone.pth' in err and 'does not exist' in err
    err = _one_line_exit(
        capsys, test, [QUICKSTART, checkpoints['evil'], '--work-dir', str(tmp_path / 'c')]
    )
    assert 'builtins.print' in err and 'convert_checkpoint.py' in err


def test_the_default_runtime_saves_atomically():
    from mmengine.config import Config

    cfg = Config.fromfile(QUICKSTART)
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
