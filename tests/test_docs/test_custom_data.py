"""Every config of docs/custom_data.md builds and runs one tiny iteration (or test run)."""

import json
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdistilldepth.registry import MODELS
from tests.conftest import REPO_ROOT, load_tool
from tests.test_configs.test_all_configs import TINY_MODEL, run_one_iteration

GUIDE = osp.join(REPO_ROOT, 'docs', 'custom_data.md')
BLOCK = re.compile(r'```python\n# (my_\w+\.py)[^\n]*\n(.*?)```', re.S)


def guide_configs():
    text = open(GUIDE, encoding='utf-8').read()
    return {name: body for name, body in BLOCK.findall(text)}


def _write(tmp_path, name, extra=''):
    body = guide_configs()[name].replace("'configs/", f"'{REPO_ROOT}/configs/")
    path = tmp_path / name
    path.write_text(body + extra)
    return str(path)


def _folder(root, n=2, labeled=True, size=(48, 64)):
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        cv2.imwrite(osp.join(root, f'im{i}.jpg'), img)
        if labeled:
            depth = np.linspace(800, 9000 + 1000 * i, size[0] * size[1]).reshape(size)
            cv2.imwrite(osp.join(root, f'im{i}_depth.png'), depth.astype(np.uint16))
    return str(root)


def test_the_guide_has_every_config():
    assert set(guide_configs()) == {
        'my_distill.py',
        'my_finetune.py',
        'my_metric_finetune.py',
        'my_eval.py',
    }


def test_distill_from_my_unlabeled_photos(tmp_path):
    cfg = Config.fromfile(_write(tmp_path, 'my_distill.py'))
    assert cfg.train_dataloader.dataset.data_root == 'data/my_photos'
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    assert cfg.model.teacher.type == 'DepthAnythingTeacher'
    dataset = dict(cfg.train_dataloader.dataset.to_dict())
    dataset['data_root'] = _folder(tmp_path / 'photos', labeled=False)
    losses = run_one_iteration(cfg, dataset)
    assert 'loss_sc' in losses


@pytest.mark.parametrize(
    'name,loss', [('my_finetune.py', 'loss_ssi'), ('my_metric_finetune.py', 'loss_silog')]
)
def test_finetune_on_my_labeled_images(tmp_path, name, loss):
    cfg = Config.fromfile(_write(tmp_path, name))
    assert cfg.model.type == 'SupervisedDepthEstimator'
    assert cfg.val_dataloader.dataset.data_root == 'data/my_depth/val'
    dataset = dict(cfg.train_dataloader.dataset.to_dict())
    dataset['data_root'] = _folder(tmp_path / 'train')
    for t in dataset['pipeline']:
        if t['type'] == 'RandomDepthCrop':
            t['size'] = 56
    losses = run_one_iteration(cfg, dataset)
    assert loss in losses
    if name == 'my_metric_finetune.py':
        assert cfg.model.student.max_depth == 20.0 and cfg.test_evaluator.alignment == 'none'
        assert cfg.train_dataloader.dataset.invalid_value == 65535


def test_evaluate_my_set_without_alignment(tmp_path):
    val = _folder(tmp_path / 'val', n=2)
    tiny = {k: v for k, v in TINY_MODEL.items() if k != 'type'}
    extra = (
        f'\nmodel.update({tiny!r})\n'
        f'test_dataloader = dict(num_workers=0, dataset=dict(data_root={val!r}, '
        "pipeline=[dict(type='ResizeForDepthModel', size=28, multiple=14), "
        "dict(type='PackDepthInputs')]))\n"
    )
    config = _write(tmp_path, 'my_eval.py', extra)
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.pred_space == 'depth'
    checkpoint = tmp_path / 'tiny.pth'
    torch.save(model.state_dict(), checkpoint)
    work_dir = tmp_path / 'run'
    results = load_tool('test.py').main(
        [
            config,
            str(checkpoint),
            '--alignment',
            'none',
            '--work-dir',
            str(work_dir),
            '--num-worst',
            '0',
        ]
    )
    metrics = results['custom']
    assert metrics['num_invalid'] == 0 and np.isfinite(metrics['abs_rel'])
    # a random metric head predicts about max_depth / 2 = 10 m: far off without alignment
    assert metrics['abs_rel'] > 0.3
    assert json.load(open(work_dir / 'metrics.json')) == results
