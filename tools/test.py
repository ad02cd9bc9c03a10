"""Zero-shot evaluation of a depth model on the community benchmarks.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
        [--benchmarks nyu kitti eth3d diode scannet] [--data-root [NAME=]DIR ...]
        [--num-worst K] [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm}]

With ``--benchmarks`` each benchmark is read with ``configs/_base_/datasets/<name>.py``
(the model's own test input size and alignment are kept when its config states them);
without it, the config's own ``test_dataloader``/``test_evaluator`` are used. Writes
to DIR: ``metrics.json`` ({benchmark: {metric: value}}), ``table.md`` (Table-5 style,
also printed), and per benchmark ``<name>/per_image_metrics.csv`` and
``<name>/worst/*.png`` (RGB | aligned prediction | ground truth | AbsRel error).
"""
import argparse
import copy
import json
import os
import os.path as osp
from typing import Dict, List, Optional

import cv2
import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import Runner, TestLoop
from tqdm import tqdm

from mmdistilldepth.engine import (check_checkpoint_safe, setup_cpu_distributed,
                                   teardown_distributed)
from mmdistilldepth.evaluation import AffineInvariantDepthMetric, align_to_benchmark
from mmdistilldepth.evaluation.metrics.affine_invariant_depth_metric import resize_to
from mmdistilldepth.registry import DATASETS
from mmdistilldepth.utils import (UserInputError, add_runner_args, check_file, load_config,
                                  one_line_errors, parse_runner_args, register_all_modules)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATASET_CONFIGS = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets')
#: Table 5 of the paper, in its order: benchmark -> column title
TABLE_COLUMNS = dict(nyu='NYUv2', kitti='KITTI', diode='DIODE', scannet='ScanNet',
                     eth3d='ETH3D')
METRIC_TYPE = 'AffineInvariantDepthMetric'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Zero-shot depth evaluation.')
    parser.add_argument('config', help='the model config')
    parser.add_argument('checkpoint', help='the weights (a training checkpoint, or any '
                        'file mmengine.runner.load_checkpoint reads)')
    parser.add_argument('--work-dir', help='where results go (default: '
                        'work_dirs/<config name>/test)')
    parser.add_argument('--benchmarks', nargs='+', choices=list(TABLE_COLUMNS),
                        help="benchmarks to run (default: the config's test_dataloader)")
    parser.add_argument('--data-root', nargs='+', default=[], metavar='[NAME=]DIR',
                        help='data folders: NAME=DIR per benchmark, or one DIR when one '
                        'benchmark (or the config\'s own test set) is evaluated')
    parser.add_argument('--num-worst', type=int, default=5,
                        help='pictures of the K worst images (by AbsRel) per benchmark')
    add_runner_args(parser, cfg_example='model.encoder=vitb')
    return parse_runner_args(parser, argv)


def parse_data_roots(values: List[str], names: List[str]) -> Dict[str, str]:
    """``['nyu=a', 'kitti=b']`` or ``['a']`` (one benchmark) -> {name: dir}."""
    roots = {}
    for value in values:
        name, sep, folder = value.partition('=')
        if not sep:
            if len(names) != 1 or len(values) != 1:
                raise UserInputError(f'--data-root {value}: with several benchmarks give '
                                     'NAME=DIR for each, e.g. --data-root nyu=data/nyuv2')
            name, folder = names[0], value
        if name not in names:
            raise UserInputError(f'--data-root {value}: {name!r} is not among the evaluated '
                                 f'benchmarks {names}')
        roots[name] = folder
    return roots


def _find_transform(pipeline, type_name: str) -> Optional[dict]:
    return next((t for t in pipeline or [] if t.get('type') == type_name), None)


def benchmark_test_sets(cfg: Config, names: List[str]) -> Dict[str, tuple]:
    """{name: (test_dataloader, test_evaluator)} from configs/_base_/datasets/<name>.py.

    The config's own test dataloader decides the network input size (its
    ``ResizeForDepthModel``) and ``num_workers``, and its evaluator the alignment,
    when they are given.
    """
    own_loader = cfg.get('test_dataloader') or {}
    own_pipeline = own_loader.get('dataset', {}).get('pipeline')
    own_resize = _find_transform(own_pipeline, 'ResizeForDepthModel')
    own_metric = cfg.get('test_evaluator') or {}
    if isinstance(own_metric, list):
        own_metric = own_metric[0] if own_metric else {}
    sets = {}
    for name in names:
        base = Config.fromfile(osp.join(DATASET_CONFIGS, f'{name}.py'))
        dataloader, evaluator = copy.deepcopy(base.test_dataloader), copy.deepcopy(
            base.test_evaluator)
        resize = _find_transform(dataloader.dataset.pipeline, 'ResizeForDepthModel')
        if own_resize is not None and resize is not None:
            resize.update({k: v for k, v in own_resize.items() if k in ('size', 'multiple')})
        if 'num_workers' in own_loader:
            dataloader.num_workers = own_loader.num_workers
            dataloader.persistent_workers = own_loader.get('persistent_workers', False)
        if own_metric.get('type') == METRIC_TYPE and 'alignment' in own_metric:
            evaluator.alignment = own_metric['alignment']
        sets[name] = (dataloader, evaluator)
    return sets


def own_test_set(cfg: Config) -> Dict[str, tuple]:
    if not cfg.get('test_dataloader') or not cfg.get('test_evaluator'):
        raise UserInputError('the config has no test_dataloader/test_evaluator; choose '
                             'benchmarks with --benchmarks nyu kitti eth3d diode scannet')
    evaluator = cfg.test_evaluator
    name = (evaluator.get('benchmark') if isinstance(evaluator, dict) else None) or 'test'
    return {name: (copy.deepcopy(cfg.test_dataloader), copy.deepcopy(evaluator))}


def prepare(cfg: Config, test_sets: Dict[str, tuple], roots: Dict[str, str],
            work_dir: str) -> None:
    """Point each test set at its data folder and its per-image CSV; check the folders."""
    for name, (dataloader, evaluator) in test_sets.items():
        dataset = dataloader.dataset
        if name in roots:
            dataset.data_root = roots[name]
        data_root = dataset.get('data_root')
        dataset_cls = DATASETS.get(dataset.get('type', ''))
        creates_it = getattr(dataset_cls, 'creates_data_root', False)
        if data_root and not creates_it and not osp.isdir(data_root):
            raise UserInputError(
                f'{name}: data folder {data_root} does not exist; give it with --data-root '
                f'{name}=DIR (docs/datasets.md says how to prepare it)')
        metrics = evaluator if isinstance(evaluator, list) else [evaluator]
        for metric in metrics:
            if metric.get('type') == METRIC_TYPE:
                metric.per_image_csv = osp.join(work_dir, name, 'per_image_metrics.csv')


class ProgressBarHook(Hook):
    """A tqdm bar over the test iterations, on the main process."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.bar = None
        self.desc = 'test'

    def before_test_epoch(self, runner) -> None:
        self.bar = tqdm(total=len(runner.test_dataloader), desc=self.desc,
                        disable=not is_main_process(), dynamic_ncols=True)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.bar.update(1)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self.bar.close()


def load_weights(runner: Runner, checkpoint: str) -> None:
    """mmengine's load_checkpoint, refusing a file that holds none of the model's weights."""
    loaded = runner.load_checkpoint(checkpoint, map_location='cpu', strict=False)
    state = loaded.get('state_dict', loaded)
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    expected = set(model.state_dict())
    found = {k[len('module.'):] if k.startswith('module.') else k for k in state}
    if not expected & found:
        example = next(iter(found), '<empty>')
        raise UserInputError(
            f'checkpoint {checkpoint} holds none of this model\'s weights (its keys look '
            f"like {example!r}, the model's like {next(iter(expected))!r}); give a checkpoint "
            'of this config, or official weights through the model\'s own checkpoint field '
            '(--cfg-options model.checkpoint=PATH)')


def _colorize(values: np.ndarray, valid: np.ndarray, lo: float, hi: float,
              colormap: int) -> np.ndarray:
    scaled = np.clip((values - lo) / max(hi - lo, 1e-12), 0, 1)
    color = cv2.applyColorMap((scaled * 255).astype(np.uint8), colormap)
    color[~valid] = 0
    return color


def draw_worst(runner: Runner, loop: TestLoop, metric: AffineInvariantDepthMetric,
               name: str, out_dir: str, num: int) -> List[str]:
    """Run the model again on the ``num`` worst images; write RGB|pred|GT|error PNGs."""
    rows = [r for r in metric.per_image_results if r['metrics'] is not None
            and r['sample_idx'] is not None]
    rows.sort(key=lambda r: r['metrics']['abs_rel'], reverse=True)
    dataset = loop.dataloader.dataset
    benchmark = metric.benchmark or dataset.metainfo.get('benchmark')
    crop = metric.crop if metric.crop != 'default' else dataset.metainfo.get(
        'eval_crop', 'default')
    written = []
    os.makedirs(out_dir, exist_ok=True)
    for rank, row in enumerate(rows[:num], 1):
        batch = pseudo_collate([dataset[row['sample_idx']]])
        with torch.no_grad():
            sample = runner.model.test_step(batch)[0]
        gt = sample.gt_depth.data
        mask = sample.gt_valid_mask.data if 'gt_valid_mask' in sample else None
        pred = resize_to(sample.pred_depth.data, gt.shape[-2:])
        aligned = align_to_benchmark(pred, gt, benchmark, metric.alignment, mask,
                                     metric.alignment_max_res, crop)
        p, g, valid = (x.cpu().numpy() for x in (aligned.pred, aligned.gt, aligned.valid_mask))
        height, width = g.shape
        image = batch['inputs'][0].permute(1, 2, 0).cpu().numpy()
        image = image if image.dtype == np.uint8 else (np.clip(image, 0, 1) * 255).astype(
            np.uint8)
        rgb = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        lo, hi = np.percentile(1.0 / g[valid], [2, 98])  # colour by inverse depth
        panels = [cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                  _colorize(1.0 / p, np.ones_like(valid), lo, hi, cv2.COLORMAP_INFERNO),
                  _colorize(1.0 / np.maximum(g, 1e-6), valid, lo, hi, cv2.COLORMAP_INFERNO),
                  _colorize(np.abs(p - g) / np.maximum(g, 1e-6), valid, 0.0, 0.5,
                            cv2.COLORMAP_JET)]
        scale = min(1.0, 384 / height)
        panels = [cv2.resize(x, (round(width * scale), round(height * scale)),
                             interpolation=cv2.INTER_AREA) for x in panels]
        picture = np.hstack(panels)
        label = (f"{name} #{rank} AbsRel {row['metrics']['abs_rel']:.3f} "
                 f"{osp.basename(str(row['img_path']))}")
        cv2.putText(picture, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255),
                    1, cv2.LINE_AA)
        stem = osp.splitext(osp.basename(str(row['img_path'])))[0]
        path = osp.join(out_dir, f'{rank:02d}_{stem}.png')
        cv2.imwrite(path, picture)
        written.append(path)
    return written


def markdown_table(model_name: str, results: Dict[str, dict]) -> str:
    """Table 5 layout: AbsRel and delta1 per benchmark, the paper's column order."""
    names = [n for n in TABLE_COLUMNS if n in results] + [
        n for n in results if n not in TABLE_COLUMNS]
    head = '| Method | ' + ' | '.join(f'{TABLE_COLUMNS.get(n, n)} AbsRel↓ | '
                                       f'{TABLE_COLUMNS.get(n, n)} δ1↑' for n in names) + ' |'
    rule = '|---|' + '---:|' * (2 * len(names))
    cells = ' | '.join(f"{results[n].get('abs_rel', float('nan')):.3f} | "
                       f"{results[n].get('delta1', float('nan')):.3f}" for n in names)
    return '\n'.join([head, rule, f'| {model_name} | {cells} |'])


def build_config(args) -> Config:
    cfg = load_config(args.config)
    check_file(args.checkpoint, 'checkpoint', 'give the path of a .pth file')
    check_checkpoint_safe(args.checkpoint)  # one line instead of torch's refusal
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.model.get('type') == 'CrossContextDistiller':
        cfg.model.teacher = None  # evaluation needs no teacher
    config_name = osp.splitext(osp.basename(args.config))[0]
    cfg.work_dir = args.work_dir or osp.join('work_dirs', config_name, 'test')
    cfg.load_from = None  # loaded explicitly, with a check, before the first benchmark
    cfg.resume = False
    return cfg


def main(argv=None) -> Dict[str, dict]:
    args = parse_args(argv)
    with one_line_errors('test.py'):
        register_all_modules()
        cfg = build_config(args)
        setup_cpu_distributed(cfg)  # gloo and CPU DDP when launched without CUDA
        if args.benchmarks:
            test_sets = benchmark_test_sets(cfg, list(dict.fromkeys(args.benchmarks)))
        else:
            test_sets = own_test_set(cfg)
        roots = parse_data_roots(args.data_root, list(test_sets))
        prepare(cfg, test_sets, roots, cfg.work_dir)

        first = next(iter(test_sets.values()))
        cfg.test_dataloader, cfg.test_evaluator = copy.deepcopy(first)
        cfg.test_cfg = cfg.get('test_cfg') or ConfigDict(type='TestLoop')
        runner = Runner.from_cfg(cfg)
        progress = ProgressBarHook()
        runner.register_hook(progress)
        runner.call_hook('before_run')
        load_weights(runner, args.checkpoint)

        results = {}
        for name, (dataloader, evaluator) in test_sets.items():
            progress.desc = name
            # mmengine has one test loop per runner; give it this benchmark's loop.
            loop = TestLoop(runner, dataloader, evaluator, fp16=cfg.test_cfg.get('fp16', False))
            runner._test_loop = loop
            results[name] = {k: float(v) for k, v in loop.run().items()}
            metric = next((m for m in loop.evaluator.metrics
                           if isinstance(m, AffineInvariantDepthMetric)), None)
            if metric is not None and is_main_process() and args.num_worst > 0:
                draw_worst(runner, loop, metric, name, osp.join(cfg.work_dir, name, 'worst'),
                           args.num_worst)
        runner.call_hook('after_run')

        if is_main_process():
            with open(osp.join(cfg.work_dir, 'metrics.json'), 'w') as f:
                json.dump(results, f, indent=2)
            table = markdown_table(osp.splitext(osp.basename(args.config))[0], results)
            with open(osp.join(cfg.work_dir, 'table.md'), 'w') as f:
                f.write(table + '\n')
            print(table)
            print(f'results written to {cfg.work_dir}')
        return results


if __name__ == '__main__':
    main()
    teardown_distributed()  # after main() let go of the runner (it holds the group)
