"""Each ablation of Tables 1 and 2 runs one iteration; what the teacher sees is checked.

The ablations ablate one thing (docs/method.md): Table 1's local-global rows give the
teacher the local patches only (no shared pair, nothing of the whole image); Table 2's
four rows differ only in the two switches ``shared_context`` and ``local_global``.
"""

import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from mmdistilldepth.registry import DATASETS, MODELS
from mmdistilldepth.utils import register_all_modules
from tests.test_configs.tiny import tiny_pipeline

register_all_modules()
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ABLATIONS = sorted(glob.glob(osp.join(ROOT, 'configs', 'cross_context', 'ablations', '*.py')))
MAIN = osp.join(
    ROOT, 'configs', 'cross_context', 'cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py'
)
TINY = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=2, num_heads=2, layer_idx=(0, 1, 1, 1)),
    features=16,
    out_channels=(8, 16, 32, 32),
)
SIZE, N, B = 56, 4, 2
# the two images of the batch: 84x112 and 112x84 -> global views 42x70 and 70x42 (padded 70x70)
SHAPES = ((84, 112), (112, 84))

#: what the teacher is given per setting: (number of views, (h, w)) per call
EXPECTED = {
    'table1-shared-context': ([(B, (SIZE, SIZE))], {'loss_sc', 'loss_grad', 'loss_feat'}),
    'table1-local-global': ([(B * N, (SIZE, SIZE))], {'loss_lg', 'loss_grad', 'loss_feat'}),
    'table2-baseline': ([(B, (70, 70))], {'loss_sc', 'loss_grad', 'loss_feat'}),
    'table2-shared-context': ([(B, (SIZE, SIZE))], {'loss_sc', 'loss_grad', 'loss_feat'}),
    'table2-local-global': (
        [(B, (70, 70)), (B * N, (SIZE, SIZE))],
        {'loss_sc', 'loss_lg', 'loss_grad', 'loss_feat'},
    ),
    'table2-both': ([(B + B * N, (SIZE, SIZE))], {'loss_sc', 'loss_lg', 'loss_grad', 'loss_feat'}),
}


def _setting(path):
    return osp.basename(path).split('_')[3]


def _one_iteration(cfg):
    model_cfg = cfg.model.to_dict()
    model_cfg['student'] = dict(TINY)
    model_cfg['teacher'] = dict(type='DepthAnythingTeacher', model=dict(TINY), checkpoint=None)
    model_cfg['train_size'] = (SIZE, SIZE)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    pipeline = tiny_pipeline(cfg.train_dataloader.dataset.pipeline, cfg.model.train_size[0], SIZE)
    scenes = dict(type='SyntheticScenes', num_samples=1, seed=0, pipeline=pipeline)
    samples = [DATASETS.build(dict(scenes, height=h, width=w))[0] for h, w in SHAPES]
    data = model.data_preprocessor(pseudo_collate(samples), True)
    given = []
    predict = model.teacher.predict

    def spy(images, gt_depth=None):
        given.append((len(images), tuple(images.shape[-2:])))
        return predict(images, gt_depth=gt_depth)

    model.teacher.predict = spy
    losses = model.loss(**data)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    return model, given, set(losses)


def test_all_settings_are_here():
    assert sorted(_setting(p) for p in ABLATIONS) == sorted(
        [
            f'table1-{m}-{n}'
            for m in ('shared-context', 'local-global')
            for n in ('global', 'hybrid', 'local', 'none')
        ]
        + [f'table2-{s}' for s in ('baseline', 'shared-context', 'local-global', 'both')]
    )


@pytest.mark.parametrize('path', ABLATIONS, ids=_setting)
def test_ablation_gives_the_teacher_what_the_paper_did(path):
    setting = _setting(path)
    key = next(k for k in EXPECTED if setting.startswith(k))
    expected_calls, expected_terms = EXPECTED[key]
    cfg = Config.fromfile(path)
    model, given, terms = _one_iteration(cfg)
    assert given == expected_calls, setting
    assert terms == expected_terms, setting
    if setting.startswith('table1-'):
        norm = setting.rsplit('-', 1)[1]
        loss = model.loss_lg if 'local-global' in setting else model.loss_sc
        assert loss.normalization == norm


def test_table2_rows_differ_only_in_the_two_switches():
    def without_switches(path):
        cfg = Config.fromfile(path).to_dict()
        switches = tuple(cfg['model'].pop(k) for k in ('shared_context', 'local_global'))
        return switches, cfg

    rows = {_setting(p): without_switches(p) for p in ABLATIONS if '_table2-' in p}
    _, both = rows['table2-both']
    assert {name: switches for name, (switches, _) in rows.items()} == {
        'table2-baseline': (False, False),
        'table2-shared-context': (True, False),
        'table2-local-global': (False, True),
        'table2-both': (True, True),
    }
    for name, (_, cfg) in rows.items():
        assert cfg == both, name
    # the ablations train on the paper's 50k subset, otherwise the main config
    main = Config.fromfile(MAIN).to_dict()
    assert (main['model'].pop('shared_context'), main['model'].pop('local_global')) == (True, True)
    assert both['train_dataloader']['dataset']['num_samples'] == 50000
    both['train_dataloader']['dataset'].pop('num_samples')
    assert both == main
