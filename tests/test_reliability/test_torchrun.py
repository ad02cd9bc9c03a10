"""The quickstart under tools/dist_train.sh (torchrun), 2 processes on the CPU.

One run checks three things:

- tools/train.py picks gloo and CPU DDP by itself, and the run trains and saves;
- a teacher output that is NaN on rank 1 only skips the update on BOTH ranks (they
  agree through the guard's all-reduce; a rank skipping the backward alone would hang
  DDP) and training goes on;
- the validation metric gathered over the 2 ranks (5 images: one rank's share is
  padded by the sampler) equals a 1-process tools/test.py run on the same weights.
"""

import json
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

from mmdistilldepth.datasets import SyntheticNYUv2
from tests.conftest import REPO_ROOT
from tests.test_reliability.tiny_quickstart import QUICKSTART, child_env, dist_train, tiny_options

NAN_TEACHER = '''
import torch
from mmengine.dist import get_rank
from mmengine.logging import MessageHub

from mmdistilldepth.models.teachers import SimulatedTeacher
from mmdistilldepth.registry import MODELS


@MODELS.register_module()
class NaNOnOneRankTeacher(SimulatedTeacher):
    """SimulatedTeacher whose output is all NaN at one iteration, on one rank."""

    def __init__(self, nan_iteration, nan_rank, **kwargs):
        super().__init__(**kwargs)
        self.nan_iteration, self.nan_rank = nan_iteration, nan_rank

    def predict(self, images, gt_depth=None):
        pred = super().predict(images, gt_depth=gt_depth)
        iteration = MessageHub.get_current_instance().get_info('iter')
        if iteration == self.nan_iteration and get_rank() == self.nan_rank:
            pred = torch.full_like(pred, float('nan'))
        return pred
'''

METRICS = ('abs_rel', 'sq_rel', 'rmse', 'delta1', 'delta2', 'i_rmse')


def _val_options(prefix, data_root):
    return [
        f'{prefix}.dataset.data_root={data_root}',
        f'{prefix}.dataset.num_samples=5',
        f'{prefix}.dataset.pipeline.2.size=42',
        f'{prefix}.batch_size=4',
    ]


def _val_metrics_of_run(work_dir):
    (stamp,) = [d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d))]
    with open(osp.join(work_dir, stamp, 'vis_data', 'scalars.json')) as f:
        records = [json.loads(line) for line in f]
    return next(r for r in records if 'abs_rel' in r)


@pytest.mark.skipif(sys.platform == 'win32', reason='torchrun with gloo on POSIX')
def test_two_process_training_skips_together_and_gathers_the_metric(tmp_path):
    data_root = tmp_path / 'synthetic_nyu'
    SyntheticNYUv2(data_root=str(data_root), num_samples=5, pipeline=[])  # write it once
    (tmp_path / 'nan_on_one_rank.py').write_text(NAN_TEACHER)
    config = tmp_path / 'quickstart_nan.py'
    config.write_text(
        textwrap.dedent(f"""
        _base_ = [{QUICKSTART!r}]
        custom_imports = dict(imports=['nan_on_one_rank'], allow_failed_imports=False)
        model = dict(teacher=dict(type='NaNOnOneRankTeacher', nan_iteration=2, nan_rank=1))
    """)
    )
    work_dir = tmp_path / 'run'
    options = tiny_options(
        4, 4, 0, ['train_cfg.val_interval=4', *_val_options('val_dataloader', data_root)]
    )
    train = dist_train(config, work_dir, options, cwd=tmp_path, PYTHONPATH=str(tmp_path))
    log = train.stdout
    assert train.returncode == 0, log[-5000:]
    assert "dist_cfg: {'backend': 'gloo'}" in log  # chosen by train.py without CUDA
    assert 'Distributed training: True' in log and 'GPU number: 2' in log  # = world size
    # rank 0's loss was finite: it skipped because rank 1's NaN reached the averaged
    # gradients (only rank 0 logs warnings)
    assert (
        'iteration 2: skipped the optimizer update, a gradient is not finite after '
        'averaging over the ranks'
    ) in log and '(1 skipped in this run)' in log
    assert 'Iter(train) [4/4]' in log and 'nonfinite_skipped: 1' in log
    assert osp.isfile(work_dir / 'iter_4.pth')

    gathered = _val_metrics_of_run(work_dir)
    test = subprocess.run(
        [
            sys.executable,
            osp.join(REPO_ROOT, 'tools', 'test.py'),
            QUICKSTART,
            str(work_dir / 'iter_4.pth'),
            '--work-dir',
            str(tmp_path / 'test'),
            '--num-worst',
            '0',
            '--cfg-options',
            *tiny_options(4, 4, 0, _val_options('test_dataloader', data_root)),
        ],
        env=child_env(),
        cwd=REPO_ROOT,
        timeout=300,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert test.returncode == 0, test.stdout[-5000:]
    with open(tmp_path / 'test' / 'metrics.json') as f:
        single = next(iter(json.load(f).values()))
    assert single['num_invalid'] == gathered['num_invalid'] == 0
    for name in METRICS:  # the same 5 images, batched differently: float tolerance
        assert gathered[name] == pytest.approx(single[name], rel=1e-5, abs=1e-7), name
