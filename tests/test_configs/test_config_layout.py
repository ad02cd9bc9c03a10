"""The config tree's rules (configs/README.md): names, thin aliases, one switch per idea."""

import ast
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'configs')
ALL = sorted(
    f
    for f in glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True)
    if '_base_' not in osp.relpath(f, CONFIGS).split(osp.sep)
)

_FIELD = r'[a-z0-9.]+(?:-[a-z0-9.]+)*'
#: {method}_{student}_{teacher}[_{setting}]_{N}xb{B}-{schedule}_{data}-{res}.py
NAME = re.compile(
    rf'^(?P<method>{_FIELD})_(?P<student>{_FIELD})_(?P<teacher>{_FIELD})'
    rf'(?:_(?P<setting>{_FIELD}))?_(?P<gpus>\d+)xb(?P<batch>\d+)'
    rf'-(?P<schedule>\d+(?:k|it))_(?P<data>{_FIELD})-(?P<res>\d+(?:x\d+)?)\.py$'
)


def _is_alias(path: str) -> bool:
    """Old paths and entry points: the top level, quickstart/ and ablations/."""
    rel = osp.relpath(path, CONFIGS).split(osp.sep)
    return len(rel) == 1 or rel[0] in ('quickstart', 'ablations')


ALIASES = [f for f in ALL if _is_alias(f)]
METHOD_CONFIGS = [f for f in ALL if not _is_alias(f)]


def _rel(path: str) -> str:
    return osp.relpath(path, ROOT)


def _base_of(path: str) -> list:
    tree = ast.parse(open(path, encoding='utf-8').read())
    return [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and node.targets[0].id == '_base_'
    ]


@pytest.mark.parametrize('path', METHOD_CONFIGS, ids=_rel)
def test_method_config_names(path):
    match = NAME.match(osp.basename(path))
    assert match, (
        f'{_rel(path)} does not follow {{method}}_{{student}}_{{teacher}}'
        '[_{setting}]_{N}xb{B}-{schedule}_{data}-{res}.py (configs/README.md)'
    )
    cfg = Config.fromfile(path)
    batch = cfg.train_dataloader.batch_size
    assert int(match['batch']) == batch, f'{_rel(path)}: the batch size is {batch}'
    iters = cfg.train_cfg.max_iters
    schedule = f'{iters // 1000}k' if iters % 1000 == 0 else f'{iters}it'
    assert match['schedule'] == schedule, f'{_rel(path)}: {iters} iterations: {schedule}'
    res = 'x'.join(map(str, cfg.model.train_size))
    res = res.split('x')[0] if len(set(cfg.model.train_size)) == 1 else res
    assert match['res'] == res, f'{_rel(path)}: model.train_size {cfg.model.train_size}: {res}'
    if osp.basename(osp.dirname(path)) == 'ablations':
        assert re.fullmatch(r'table\d+-[a-z0-9-]+', match['setting'] or ''), (
            f'{_rel(path)}: an ablation names its table and setting, e.g. table1-local-global-none'
        )


@pytest.mark.parametrize('path', ALIASES, ids=_rel)
def test_aliases_are_thin(path):
    """An old path holds one ``_base_`` (a method config) and nothing else."""
    tree = ast.parse(open(path, encoding='utf-8').read())
    assert len(tree.body) == 1 and tree.body[0].targets[0].id == '_base_', (
        f'{_rel(path)} must only inherit: put settings into the config it names'
    )
    (bases,) = _base_of(path)
    assert len(bases) == 1
    target = osp.normpath(osp.join(osp.dirname(path), bases[0]))
    assert target in METHOD_CONFIGS, f'{_rel(path)} must point into a method folder'
    assert Config.fromfile(path).to_dict() == Config.fromfile(target).to_dict()


@pytest.mark.parametrize('path', ALL, ids=_rel)
def test_one_switch_per_idea(path):
    """A loss is off by ``loss_x=None`` alone, never by a zero weight; sizes agree."""
    cfg = Config.fromfile(path)
    model = cfg.model
    for name, weight in model.get('loss_weights', {}).items():
        assert weight != 0, (
            f'{_rel(path)}: loss_weights.{name}=0 switches L_{name} a second '
            f'way; set model.loss_{name}=None instead'
        )
    for name in ('loss_sc', 'loss_lg', 'loss_grad', 'loss_feat'):
        loss = model.get(name) or {}
        assert loss.get('loss_weight', 1.0) == 1.0, (
            f'{_rel(path)}: model.{name}.loss_weight scales a term that model.loss_weights '
            'already scales; set the weight in loss_weights only'
        )
    if not model.get('local_global', True):
        # the flag alone turns L_lg off; a second switch would be a None loss
        assert model.get('loss_lg') is not None, f'{_rel(path)}: local_global=False is enough'
    pipeline = cfg.train_dataloader.dataset.pipeline
    if model.get('type') == 'SupervisedDepthEstimator':  # configs/finetune: one labeled crop
        crops = [t for t in pipeline if t['type'] == 'RandomDepthCrop']
        assert crops and crops[0]['size'] == model.train_size[0], (
            f'{_rel(path)}: RandomDepthCrop(size) must be model.train_size {model.train_size}'
        )
        crops = [dict(global_size=(0, 0))]  # no cross-context views to check below
    else:
        crops = [t for t in pipeline if t['type'] == 'CrossContextCrops']
    assert crops, f'{_rel(path)}: the training pipeline has no CrossContextCrops'
    fixed_input = not isinstance(crops[0].get('global_size'), (int, type(None)))
    if not fixed_input:  # the paper's layout: local patches of train_size px, seen at 1:1
        assert crops[0]['local_size'] == model.train_size[0], (
            f'{_rel(path)}: local patches of {crops[0]["local_size"]} px but model.train_size '
            f'{tuple(model.train_size)}: set train_size in the dataset base and read it '
            'with {{_base_.train_size}}, or write the pipeline beside it'
        )
    hook = cfg.default_hooks.checkpoint
    if hook.get('save_best'):  # the best checkpoint needs a validation at every save
        assert hook.interval % cfg.train_cfg.val_interval == 0, _rel(path)


@pytest.mark.parametrize(
    'path', sorted(glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True)), ids=_rel
)
def test_no_constant_of_the_package_is_copied(path):
    """The ImageNet mean/std are the package's (the estimators' and teachers' default)."""
    text = open(path, encoding='utf-8').read()
    assert '0.485' not in text and '0.229' not in text, (
        f'{_rel(path)}: leave the ImageNet mean/std to the package defaults'
    )
