"""Every MiDaS config (configs/midas/) runs one training iteration with tiny MiDaS models.

The student keeps its MiDaS type and backbone family (BEiT or Swin2) with a tiny timm
configuration; the teacher keeps its type (MiDaSTeacher or DepthAnythingTeacher) with a
tiny random model. Losses, switches, normalization and wiring are the config's own.
"""

import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from mmdistilldepth.registry import DATASETS, MODELS
from mmdistilldepth.utils import register_all_modules
from tests.test_configs.tiny import tiny_pipeline
from tests.test_models.test_estimators.test_midas import TINY_BEIT, TINY_SWIN2

register_all_modules()
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MIDAS_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'midas', '*.py')))
TINY_DAV2 = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=2, num_heads=2, layer_idx=(0, 1, 1, 1)),
    features=16,
    out_channels=(8, 16, 32, 32),
)


def test_table3_and_table5_configs_exist():
    names = {osp.basename(p) for p in MIDAS_CONFIGS}
    assert names >= {
        'cross-context_midas-beit-l_midas-beit-l_1xb8-20k_sa1b-560.py',  # Table 5 †
        'cross-context_midas-beit-l_dav2-l_1xb8-20k_sa1b-560.py',  # Table 3 DA-L -> MiDaS-L
        'baseline_midas-beit-l_dav2-l_1xb8-20k_sa1b-560.py',
        'cross-context_midas-swin2-t_midas-beit-l_1xb8-20k_sa1b-256.py',  # MiDaS-L -> -S
        'baseline_midas-swin2-t_midas-beit-l_1xb8-20k_sa1b-256.py',
    }


@pytest.mark.parametrize('path', MIDAS_CONFIGS, ids=osp.basename)
def test_midas_config_runs_one_iteration(path):
    cfg = Config.fromfile(path)
    model_cfg = cfg.model.to_dict()
    student = model_cfg['student']
    assert student['type'] == 'MiDaS' and student['checkpoint_scope'] == 'encoder'
    assert model_cfg['student_mean'] == [0.5] * 3 and model_cfg['student_std'] == [0.5] * 3
    swin = student['model_type'] == 'dpt_swin2_tiny_256'
    assert tuple(model_cfg['train_size']) == ((256, 256) if swin else (560, 560))
    if 'baseline' in osp.basename(path):
        assert not model_cfg['shared_context'] and not model_cfg['local_global']
        assert model_cfg['loss_sc']['normalization'] == 'global'
    else:
        assert model_cfg['loss_sc']['normalization'] == 'hybrid' and model_cfg['local_global']
    model_cfg['student'] = dict(TINY_SWIN2 if swin else TINY_BEIT)
    teacher = model_cfg['teacher']
    expected_teacher = 'DepthAnythingTeacher' if '_dav2-l_' in path else 'MiDaSTeacher'
    assert teacher['type'] == expected_teacher
    teacher.update(
        checkpoint=None,
        model=dict(TINY_DAV2) if expected_teacher == 'DepthAnythingTeacher' else dict(TINY_BEIT),
    )
    if expected_teacher == 'MiDaSTeacher':
        teacher['input_size'] = 64
    model_cfg['train_size'] = (64, 64)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    assert model.feat_encoder is not None  # L_feat on the MiDaS encoder's features

    pipeline = tiny_pipeline(
        cfg.train_dataloader.dataset.pipeline, cfg.model.train_size[0], 64, 32 if swin else 16
    )
    dataset = DATASETS.build(
        dict(type='SyntheticScenes', num_samples=2, height=96, width=96, seed=0, pipeline=pipeline)
    )
    np.random.seed(0)
    data = model.data_preprocessor(pseudo_collate([dataset[0], dataset[1]]), True)
    for s in data['data_samples']:  # real teachers see RGB only
        del s.gt_depth
    losses = model.loss(**data)
    expected = {'loss_sc', 'loss_grad', 'loss_feat'} | (
        set() if 'baseline' in osp.basename(path) else {'loss_lg'}
    )
    assert set(losses) == expected
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.student.pretrained.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.student.scratch.parameters()
    )

    test_pipeline = cfg.val_dataloader.dataset.pipeline
    resize = [t for t in test_pipeline if t['type'] == 'ResizeForMiDaS']
    assert resize and resize[0]['size'] == (256 if swin else 512)
