"""The test sets of ``tools/test.py``: the config's own, or the community benchmarks."""

from __future__ import annotations

import copy
import os.path as osp
from typing import Dict, List, Optional

from mmengine.config import Config

from mmdistilldepth.registry import DATASETS
from mmdistilldepth.utils.cli import UserInputError

#: ``configs/_base_/datasets/<name>.py`` holds each benchmark's test set.
DATASET_CONFIGS = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))),
    'configs',
    '_base_',
    'datasets',
)
METRIC_TYPE = 'AffineInvariantDepthMetric'


def parse_data_roots(values: List[str], names: List[str]) -> Dict[str, str]:
    """``['nyu=a', 'kitti=b']`` or ``['a']`` (one benchmark) -> {name: dir}."""
    roots = {}
    for value in values:
        name, sep, folder = value.partition('=')
        if not sep:
            if len(names) != 1 or len(values) != 1:
                raise UserInputError(
                    f'--data-root {value}: with several benchmarks give '
                    'NAME=DIR for each, e.g. --data-root nyu=data/nyuv2'
                )
            name, folder = names[0], value
        if name not in names:
            raise UserInputError(
                f'--data-root {value}: {name!r} is not among the evaluated benchmarks {names}'
            )
        roots[name] = folder
    return roots


def find_transform(pipeline, type_name: str) -> Optional[dict]:
    """The first transform of ``type_name`` in a pipeline config, else None."""
    return next((t for t in pipeline or [] if t.get('type') == type_name), None)


def benchmark_test_sets(cfg: Config, names: List[str]) -> Dict[str, dict]:
    """{name: dict(dataloader, evaluator)} from ``configs/_base_/datasets/<name>.py``.

    The config's own test dataloader decides the network input size (its
    ``ResizeForDepthModel``) and ``num_workers``, and its evaluator the alignment,
    when they are given.
    """
    own_loader = cfg.get('test_dataloader') or {}
    own_resize = find_transform(
        own_loader.get('dataset', {}).get('pipeline'), 'ResizeForDepthModel'
    )
    own_metric = cfg.get('test_evaluator') or {}
    if isinstance(own_metric, list):
        own_metric = own_metric[0] if own_metric else {}
    sets = {}
    for name in names:
        base = Config.fromfile(osp.join(DATASET_CONFIGS, f'{name}.py'))
        dataloader = copy.deepcopy(base.test_dataloader)
        evaluator = copy.deepcopy(base.test_evaluator)
        resize = find_transform(dataloader.dataset.pipeline, 'ResizeForDepthModel')
        if own_resize is not None and resize is not None:
            resize.update({k: v for k, v in own_resize.items() if k in ('size', 'multiple')})
        if 'num_workers' in own_loader:
            dataloader.num_workers = own_loader.num_workers
            dataloader.persistent_workers = own_loader.get('persistent_workers', False)
        if own_metric.get('type') == METRIC_TYPE and 'alignment' in own_metric:
            evaluator.alignment = own_metric['alignment']
        sets[name] = dict(dataloader=dataloader, evaluator=evaluator)
    return sets


def own_test_set(cfg: Config) -> Dict[str, dict]:
    """{name: dict(dataloader, evaluator)} of the config's own test set."""
    if not cfg.get('test_dataloader') or not cfg.get('test_evaluator'):
        raise UserInputError(
            'the config has no test_dataloader/test_evaluator; choose '
            'benchmarks with --benchmarks nyu kitti eth3d diode scannet'
        )
    evaluator = cfg.test_evaluator
    name = (evaluator.get('benchmark') if isinstance(evaluator, dict) else None) or 'test'
    return {
        name: dict(
            dataloader=copy.deepcopy(cfg.test_dataloader), evaluator=copy.deepcopy(evaluator)
        )
    }


def prepare_test_sets(test_sets: Dict[str, dict], roots: Dict[str, str], work_dir: str) -> None:
    """Point each test set at its data folder and its per-image CSV; check the folders."""
    for name, spec in test_sets.items():
        dataset = spec['dataloader'].dataset
        if name in roots:
            dataset.data_root = roots[name]
        data_root = dataset.get('data_root')
        creates_it = getattr(DATASETS.get(dataset.get('type', '')), 'creates_data_root', False)
        if data_root and not creates_it and not osp.isdir(data_root):
            raise UserInputError(
                f'{name}: data folder {data_root} does not exist; give it with --data-root '
                f'{name}=DIR (docs/datasets.md says how to prepare it)'
            )
        evaluator = spec['evaluator']
        for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
            if metric.get('type') == METRIC_TYPE:
                metric.per_image_csv = osp.join(work_dir, name, 'per_image_metrics.csv')
