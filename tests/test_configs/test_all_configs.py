"""Every leaf config builds and runs one training iteration on the CPU at tiny size.

Weights and data are swapped for tiny random models and synthetic scenes (what
``--cfg-options`` would do on a machine without them); everything else — the
losses, weights, switches and teachers' wiring — is the config's own.
"""

import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from mmdistilldepth.models.distillers.cross_context_distiller import same_encoder_weights
from mmdistilldepth.registry import DATASETS, MODELS
from mmdistilldepth.utils import register_all_modules
from tests.test_configs.tiny import tiny_pipeline

register_all_modules()
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LEAF_CONFIGS = sorted(
    f
    for f in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in f
)
TINY_ENCODER = dict(embed_dim=48, depth=2, num_heads=2, layer_idx=(0, 1, 1, 1))
TINY_MODEL = dict(
    type='DepthAnythingV2', encoder=TINY_ENCODER, features=16, out_channels=(8, 16, 32, 32)
)


def _tiny_teacher(cfg: dict) -> dict:
    """The same teacher type where possible, with a tiny random model."""
    if cfg['type'] == 'AssistantGuidedTeacher':
        cfg.update(
            primary=_tiny_teacher(cfg['primary']),
            assistant=dict(type='DepthAnythingTeacher', model=dict(TINY_MODEL)),
        )
    elif cfg['type'] == 'GenPerceptTeacher':  # the diffusion teacher: a tiny stand-in
        return dict(type='DepthAnythingTeacher', model=dict(TINY_MODEL))
    elif cfg['type'] == 'DepthAnythingTeacher':
        max_depth = cfg['model'].get('max_depth')  # a metric teacher stays metric
        cfg.update(model=dict(TINY_MODEL, max_depth=max_depth), checkpoint=None)
    elif cfg['type'] == 'MiDaSTeacher':  # configs/midas/ (tests/test_configs/test_midas_configs.py)
        cfg.update(
            model=dict(
                type='MiDaS',
                features=16,
                backbone=dict(
                    timm_kwargs=dict(img_size=64, embed_dim=32, depth=4, num_heads=2),
                    hooks=[0, 1, 2, 3],
                    out_channels=[8, 16, 32, 32],
                ),
            ),
            checkpoint=None,
            input_size=64,
        )
    return cfg


def test_there_are_configs():
    names = {osp.relpath(f, ROOT) for f in LEAF_CONFIGS}
    # the entry points users and docs name, and the method configs behind them
    assert {
        'configs/cross_context_dav2_l.py',
        'configs/quickstart/cross_context_synthetic.py',
        'configs/assistant_guided_dav2_l_genpercept.py',
        'configs/cross_context/cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py',
        'configs/cross_context/cross-context_dav2-tiny_simulated_1xb4-600it_synthetic-112.py',
        'configs/assistant_guided/assistant-guided_dav2-l_dav2-l-genpercept_1xb8-20k_sa1b-560.py',
    } <= names
    # Table 3 Base rows, Table 4 avg, C.2 data scaling, C.3 GenPercept, Table 5 init
    assert {
        'configs/baseline/baseline_dav2-s_dav2-l_1xb8-20k_sa1b-560.py',
        'configs/baseline/baseline_dav2-l_dav2-l_1xb8-20k_sa1b-560.py',
        'configs/assistant_guided/assistant-guided_dav2-l_dav2-l-genpercept_avg_1xb8-20k_sa1b-560.py',
        'configs/cross_context/cross-context_dav2-l_genpercept_1xb8-20k_sa1b-560.py',
        'configs/cross_context/cross-context_dav2-l_dav2-l_full-init_1xb8-20k_sa1b-560.py',
    } <= names
    scaling = [n for n in names if n.startswith('configs/cross_context/data_scaling/')]
    assert len(scaling) == 8  # 10k, 50k, 100k, 200k images: Ours and Base
    # Tables 1 and 2: 12 settings, and the 12 old names as aliases
    assert len([n for n in names if n.startswith('configs/cross_context/ablations/')]) == 12
    assert len([n for n in names if n.startswith('configs/ablations/')]) == 12


def tiny_model_cfg(cfg: Config) -> dict:
    """The config's model with tiny random weights (teachers, students) at 56 px."""
    model_cfg = cfg.model.to_dict()
    student = dict(TINY_MODEL)
    if model_cfg['student'].get('max_depth') is not None:  # a metric student stays metric
        student['max_depth'] = model_cfg['student']['max_depth']
    if model_cfg['type'] == 'SupervisedDepthEstimator':
        model_cfg['student'] = student
        return model_cfg
    # L_feat's target encoder as the config decides it (from its checkpoint paths)
    feat_source = model_cfg.get('feat_source', 'auto')
    if feat_source == 'auto':
        same = same_encoder_weights(
            model_cfg['student'], model_cfg['teacher'], model_cfg.get('feat_encoder')
        )
        feat_source = 'teacher' if same else 'copy'
    model_cfg['feat_source'] = feat_source
    model_cfg['student'] = student
    model_cfg['teacher'] = _tiny_teacher(model_cfg['teacher'])
    model_cfg['train_size'] = (56, 56)
    if model_cfg.get('loss_feat'):
        model_cfg['feat_encoder'] = None
    return model_cfg


def run_one_iteration(cfg: Config, dataset_cfg: dict = None) -> dict:
    """Build a config's model at tiny size and run one training step on two samples.

    Args:
        cfg (Config): the config (its own losses, switches and teachers' wiring).
        dataset_cfg (dict, optional): the dataset to draw two samples from (e.g. the
            config's dataset pointed at a temporary folder); None renders two synthetic
            scenes. Either way through the config's crops and packing at tiny size.

    Returns:
        dict: the losses (already checked finite, with gradients on the student).
    """
    model_cfg = tiny_model_cfg(cfg)
    model = MODELS.build(model_cfg)
    # one checkpoint for both encoders, as the config has it
    if model_cfg.get('feat_source') == 'teacher':
        model.student.backbone.load_state_dict(model.teacher.model.backbone.state_dict())
    model.init_weights()
    supervised = model_cfg['type'] == 'SupervisedDepthEstimator'
    if supervised:
        keep = ('RandomDepthCrop', 'PackDepthInputs')
        pipeline = [dict(t) for t in cfg.train_dataloader.dataset.pipeline if t['type'] in keep]
        for t in pipeline:
            if t['type'] == 'RandomDepthCrop':
                t['size'] = 56
    else:
        pipeline = tiny_pipeline(cfg.train_dataloader.dataset.pipeline, cfg.model.train_size[0], 56)
    if dataset_cfg is None:
        # a landscape and a portrait image: one batch of two sizes, as SA-1B gives
        samples = [
            DATASETS.build(
                dict(
                    type='SyntheticScenes',
                    num_samples=1,
                    height=h,
                    width=w,
                    seed=0,
                    pipeline=pipeline,
                )
            )[0]
            for h, w in ((84, 112), (112, 84))
        ]
    else:
        dataset = DATASETS.build(dict(dataset_cfg, pipeline=pipeline))
        samples = [dataset[0], dataset[1]]
    np.random.seed(0)
    data = model.data_preprocessor(pseudo_collate(samples), True)
    if not supervised and model_cfg['teacher']['type'] != 'SimulatedTeacher':
        for s in data['data_samples']:  # real teachers see RGB only
            if 'gt_depth' in s:
                del s.gt_depth
    losses = model.loss(**data)
    assert losses and all(k.startswith('loss_') for k in losses)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.student.parameters())
    # DDP with find_unused_parameters=False: every trainable parameter gets a gradient
    idle = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not idle, f'trainable parameters without a gradient: {idle[:8]}'
    return losses


@pytest.mark.parametrize('path', LEAF_CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_runs_one_iteration(path):
    run_one_iteration(Config.fromfile(path))


def test_encoder_only_initialization(tmp_path):
    """checkpoint_scope='encoder': the encoder comes from the file, the head stays fresh."""
    source = MODELS.build(dict(TINY_MODEL))
    path = str(tmp_path / 'dav2.pth')
    torch.save(source.state_dict(), path)
    torch.manual_seed(123)
    student = MODELS.build(dict(TINY_MODEL, checkpoint=path, checkpoint_scope='encoder'))
    torch.manual_seed(123)
    fresh = MODELS.build(dict(TINY_MODEL))
    for k, v in student.state_dict().items():
        expected = source.state_dict()[k] if k.startswith('pretrained.') else fresh.state_dict()[k]
        torch.testing.assert_close(v, expected, msg=k)
    assert not torch.equal(
        student.depth_head.scratch.output_conv1.weight,
        source.depth_head.scratch.output_conv1.weight,
    )
