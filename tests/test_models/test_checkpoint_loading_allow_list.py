"""mmdistilldepth/models/checkpoint_loading.py: the weights_only allow-list for MMEngine.

mmengine 0.10.7 resume / load_from under torch >= 2.6, with weights_only kept on, and
an import of the package that leaves torch's allow-list alone.
"""

import collections
import os
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmdistilldepth.models.checkpoint_loading import allow_mmengine_checkpoints

# What the package's load paths (read_checkpoint, check_checkpoint_safe before a
# resume) do before MMEngine reads a checkpoint.
allow_mmengine_checkpoints()


def _fresh_python(code: str) -> str:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
    out = subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_import_changes_no_global_state():
    out = _fresh_python("""
        import torch
        # Third-party modules that register their own safe globals when imported
        # (torch's DTensor) are imported first: only the package's effect is measured.
        import torch.distributed.tensor, mmengine.runner, timm, torchvision  # noqa
        before = list(torch.serialization.get_safe_globals())
        import mmdistilldepth, mmdistilldepth.models, mmdistilldepth.engine  # noqa
        import mmdistilldepth.utils, mmdistilldepth.apis  # noqa
        after = list(torch.serialization.get_safe_globals())
        print(before == after, len(after))
    """)
    assert out.split()[0] == 'True', out


def test_checkpoint_check_installs_the_allow_list():
    out = _fresh_python("""
        import torch
        from mmengine.logging import HistoryBuffer
        from mmdistilldepth.engine import check_checkpoint_safe
        assert HistoryBuffer not in torch.serialization.get_safe_globals()
        check_checkpoint_safe(None)  # what tools/train.py calls before a resume
        print(HistoryBuffer in torch.serialization.get_safe_globals())
    """)
    assert out.split()[0] == 'True', out


def test_loading_checks_have_one_home_and_keep_their_old_paths():
    from mmdistilldepth import engine
    from mmdistilldepth.engine import checkpoint_io
    from mmdistilldepth.models import checkpoint_loading

    for name in ('check_checkpoint_safe', 'latest_checkpoint', 'unsafe_globals'):
        home = getattr(checkpoint_loading, name)
        assert home.__module__ == 'mmdistilldepth.models.checkpoint_loading'
        assert getattr(engine, name) is home
        assert getattr(checkpoint_io, name) is home
    assert checkpoint_io.CONVERT_HINT is checkpoint_loading.CONVERT_HINT
    with pytest.raises(AttributeError, match='no_such_name'):
        checkpoint_io.no_such_name  # noqa: B018


class _Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=(out - 1).pow(2).mean())
        return out


class _Data(Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i), 1.0]))


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """The runners below make 'mmengine' the default scope; later tests build ours."""
    from mmengine.registry import DefaultScope

    before = set(DefaultScope._instance_dict)
    yield
    for name in set(DefaultScope._instance_dict) - before:
        del DefaultScope._instance_dict[name]


def _runner(work_dir, **kwargs):
    return Runner(
        model=_Toy(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_Data(),
            batch_size=4,
            num_workers=0,
            sampler=dict(type='InfiniteSampler', shuffle=True),
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(
            type='LinearLR', start_factor=1.0, end_factor=0.1, by_epoch=False, begin=0, end=6
        ),
        train_cfg=dict(by_epoch=False, max_iters=6),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1),
        ),
        randomness=dict(seed=0),
        default_scope='mmengine',
        **kwargs,
    )


def test_resume_continues_iteration_and_lr(tmp_path):
    full = _runner(tmp_path / 'full')
    full.train()
    final_full = {k: v.clone() for k, v in full.model.state_dict().items()}
    lr_full = full.optim_wrapper.get_lr()['lr'][0]

    resumed = _runner(
        tmp_path / 'full', resume=True, load_from=str(tmp_path / 'full' / 'iter_3.pth')
    )
    resumed.load_or_resume()
    assert resumed.iter == 3
    # the scheduler state came back: LinearLR over iterations 0..5 reaches end_factor
    # at iteration 5, so after 3 steps the factor is 1 - 0.9 * 3 / 5
    assert resumed.optim_wrapper.get_lr()['lr'][0] == pytest.approx(0.1 * (1 - 0.9 * 3 / 5))
    resumed.train()
    assert resumed.iter == 6
    assert resumed.optim_wrapper.get_lr()['lr'][0] == pytest.approx(lr_full)
    for k, v in resumed.model.state_dict().items():
        torch.testing.assert_close(v, final_full[k])


def test_load_from_works(tmp_path):
    first = _runner(tmp_path / 'a')
    first.train()
    second = _runner(tmp_path / 'b', load_from=str(tmp_path / 'a' / 'iter_6.pth'))
    second.load_or_resume()
    torch.testing.assert_close(second.model.linear.weight, first.model.linear.weight)


class _Evil:
    def __reduce__(self):
        return (print, ('this must never run',))


def test_arbitrary_pickles_are_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # the default stays weights_only=True


class _Sneaky:
    """Pickles as getattr(cls, name) for an allowed class but a name outside the set."""

    def __init__(self, cls, name):
        self.cls, self.name = cls, name

    def __reduce__(self):
        return (getattr, (self.cls, self.name))


def test_getattr_is_restricted_to_history_buffer_statistics(tmp_path):
    from mmengine.logging import HistoryBuffer

    buf = HistoryBuffer()
    buf.update(1.0)
    path = tmp_path / 'hb.pth'
    torch.save({'buf': buf}, path)
    loaded = torch.load(path)['buf']
    assert loaded.current() == 1.0
    for cls, name in ((HistoryBuffer, '__init__'), (collections.OrderedDict, 'fromkeys')):
        torch.save({'x': _Sneaky(cls, name)}, tmp_path / 'sneaky.pth')
        with pytest.raises(pickle.UnpicklingError):
            torch.load(tmp_path / 'sneaky.pth')
