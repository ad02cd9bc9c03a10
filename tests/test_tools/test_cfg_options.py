"""--cfg-options: wrong keys fail in one line, top-level variables take effect."""

import os.path as osp
import subprocess
import sys

import pytest

from mmdistilldepth.utils import register_all_modules
from mmdistilldepth.utils.cli import UserInputError, load_config
from tests.conftest import REPO_ROOT

QUICKSTART = osp.join(REPO_ROOT, 'configs', 'quickstart', 'cross_context_synthetic.py')
CI_OPTIONS = {  # what .ci/run and the reliability tests pass: all must stay accepted
    'train_cfg.max_iters': 6,
    'train_cfg.val_interval': 6,
    'default_hooks.checkpoint.interval': 6,
    'default_hooks.logger.interval': 2,
    'val_dataloader.dataset.num_samples': 4,
    'model.student.encoder.embed_dim': 48,
    'model.student.out_channels': [8, 16, 24, 48],
    'train_dataloader.persistent_workers': False,
}


@pytest.fixture(scope='module', autouse=True)
def _modules():
    register_all_modules()


def test_existing_and_new_component_arguments_are_accepted():
    cfg = load_config(QUICKSTART, dict(CI_OPTIONS))
    assert cfg.train_cfg.max_iters == 6 and cfg.model.student.out_channels == [8, 16, 24, 48]
    # new keys: a constructor argument, a DataLoader argument, a runner field, a hook name
    cfg = load_config(
        QUICKSTART,
        {
            'model.student.drop_path_rate': 0.1,
            'train_dataloader.prefetch_factor': 2,
            'load_from': None,
            'randomness.diff_rank_seed': True,
            'default_hooks.extra': dict(type='IterTimerHook'),
        },
    )
    assert cfg.model.student.drop_path_rate == 0.1 and cfg.train_dataloader.prefetch_factor == 2


@pytest.mark.parametrize(
    'key, expected',
    [
        ('train_cfg.max_iter', 'train_cfg.max_iters'),
        ('model.teacher.noise_amplitud', 'model.teacher.noise_amplitude'),
        ('train_dataloader.dataset.pipeline.0.num_locals', 'pipeline.0.num_local'),
        ('model.student.encoder.embed_dims', 'model.student.encoder.embed_dim'),
        ('maxiters', 'max_iters'),
        ('custom_hooks.7.interval', '0..1'),
    ],
)
def test_wrong_keys_name_the_nearest_valid_ones(key, expected):
    with pytest.raises(UserInputError) as info:
        load_config(QUICKSTART, {key: 3})
    message = str(info.value)
    assert '\n' not in message and key in message and expected in message


def test_a_top_level_variable_re_reads_the_config():
    cfg = load_config(QUICKSTART, {'max_iters': 300, 'train_size': 56})
    assert cfg.max_iters == 300 and cfg.train_cfg.max_iters == 300
    assert cfg.param_scheduler[1].end == 300  # filled from max_iters when the file is read
    assert tuple(cfg.model.train_size) == (56, 56)
    assert cfg.filename.endswith('cross_context_synthetic.py')
    # with the scheduler's fixed warm-up, max_iters=3 cannot run: said in one line
    with pytest.raises(UserInputError, match='train_cfg.max_iters=3'):
        load_config(QUICKSTART, {'max_iters': 3})
    cfg = load_config(
        QUICKSTART, {'max_iters': 3, 'param_scheduler.0.end': 2, 'param_scheduler.1.begin': 2}
    )
    assert cfg.train_cfg.max_iters == 3 and cfg.param_scheduler[1].end == 3
    with pytest.raises(UserInputError, match='visualizer.vis_backends'):
        load_config(QUICKSTART, {'vis_backends.0.type': 'LocalVisBackend'})


def test_train_py_fails_in_a_few_lines_on_a_wrong_key(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            osp.join(REPO_ROOT, 'tools', 'train.py'),
            QUICKSTART,
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            'train_cfg.max_iter=3',
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 2 and len(output) <= 30 and 'Traceback' not in result.stderr
    assert 'max_iter' in output[-1] and 'train_cfg.max_iters' in output[-1]


def test_cfg_options_come_last_in_help():
    for tool in ('train.py', 'test.py'):
        text = subprocess.run(
            [sys.executable, osp.join(REPO_ROOT, 'tools', tool), '-h'],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        flags = [w for w in text.split() if w.startswith('--')]
        assert flags[-1].startswith('--cfg-options') or flags[-2] == '--cfg-options', tool
        if tool == 'train.py':
            assert '--no-validate' in text and '--auto-scale-lr' in text
