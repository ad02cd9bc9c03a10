"""Zero-shot evaluation of a depth model on the community benchmarks.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
        [--benchmarks nyu kitti eth3d diode scannet] [--data-root [NAME=]DIR ...]
        [--alignment {none,median,least_square,least_square_disparity}]
        [--num-worst K] [--launcher {none,pytorch,slurm}] [--cfg-options KEY=VALUE ...]

With ``--benchmarks`` each benchmark is read with ``configs/_base_/datasets/<name>.py``
(the model's own test input size and alignment are kept when its config states them);
without it, the config's own ``test_dataloader``/``test_evaluator`` are used.
``--alignment`` overrides every evaluator's alignment (default: the config's, i.e.
``least_square_disparity`` for the relative models); ``none`` evaluates metric models
(``DepthAnythingV2(max_depth=...)``) as metric. Writes
to DIR: ``metrics.json`` ({benchmark: {metric: value}}), ``table.md`` (Table-5 style,
also printed), and per benchmark ``<name>/per_image_metrics.csv`` and
``<name>/worst/*.png`` (RGB | aligned prediction | ground truth | AbsRel error).

The run is MMEngine's: ``runner.test()`` with ``MultiBenchmarkTestLoop`` (one test
epoch per benchmark), ``BenchmarkReportHook`` (metrics.json, table.md),
``WorstImagesVisualizationHook`` (the pictures) and ``ProgressBarHook``.
"""

import argparse
import copy
import os.path as osp
from typing import Dict

from mmengine.config import Config

from mmdistilldepth.engine import check_checkpoint_safe, setup_cpu_distributed, teardown_distributed
from mmdistilldepth.engine.runner import (
    benchmark_test_sets,
    build_runner,
    own_test_set,
    parse_data_roots,
    prepare_test_sets,
)
from mmdistilldepth.evaluation.functional import ALIGNMENT_MODES
from mmdistilldepth.evaluation.metrics import TABLE_COLUMNS
from mmdistilldepth.utils import (  # noqa: F401
    UserInputError,
    add_runner_args,
    check_file,
    load_config,
    one_line_errors,
    parse_runner_args,
    register_all_modules,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Zero-shot depth evaluation.')
    parser.add_argument('config', help='the model config')
    parser.add_argument(
        'checkpoint',
        help='the weights (a training checkpoint, or any '
        'file mmengine.runner.load_checkpoint reads)',
    )
    parser.add_argument(
        '--work-dir', help='where results go (default: work_dirs/<config name>/test)'
    )
    parser.add_argument(
        '--benchmarks',
        nargs='+',
        choices=list(TABLE_COLUMNS),
        help="benchmarks to run (default: the config's test_dataloader)",
    )
    parser.add_argument(
        '--data-root',
        nargs='+',
        default=[],
        metavar='[NAME=]DIR',
        help='data folders: NAME=DIR per benchmark, or one DIR when one '
        "benchmark (or the config's own test set) is evaluated",
    )
    parser.add_argument(
        '--alignment',
        choices=ALIGNMENT_MODES,
        help="alignment before the metrics: 'none' for metric models (default: the "
        "config's evaluator, least_square_disparity for relative models)",
    )
    parser.add_argument(
        '--num-worst',
        type=int,
        default=5,
        help='pictures of the K worst images (by AbsRel) per benchmark',
    )
    add_runner_args(parser, cfg_example='model.encoder=vitb')  # --cfg-options comes last
    return parse_runner_args(parser, argv)


def build_config(args) -> Config:
    """The config of the test run: the model, its checkpoint, the test sets, the hooks."""
    cfg = load_config(args.config, args.cfg_options)
    check_file(args.checkpoint, 'checkpoint', 'give the path of a .pth file')
    check_checkpoint_safe(args.checkpoint)  # one line instead of torch's refusal
    cfg.launcher = args.launcher
    if cfg.model.get('type') == 'CrossContextDistiller':
        cfg.model.teacher = None  # evaluation needs no teacher
    config_name = osp.splitext(osp.basename(args.config))[0]
    cfg.work_dir = args.work_dir or osp.join('work_dirs', config_name, 'test')
    cfg.load_from, cfg.resume = args.checkpoint, False

    if args.benchmarks:
        test_sets = benchmark_test_sets(cfg, list(dict.fromkeys(args.benchmarks)))
    else:
        test_sets = own_test_set(cfg)
    prepare_test_sets(test_sets, parse_data_roots(args.data_root, list(test_sets)), cfg.work_dir)
    for spec in test_sets.values() if args.alignment else ():
        for metric in (
            spec['evaluator'] if isinstance(spec['evaluator'], list) else [spec['evaluator']]
        ):
            if metric.get('type') == 'AffineInvariantDepthMetric':
                metric.alignment = args.alignment
    first = next(iter(test_sets.values()))
    cfg.test_dataloader = copy.deepcopy(first['dataloader'])
    cfg.test_evaluator = copy.deepcopy(first['evaluator'])
    fp16 = (cfg.get('test_cfg') or {}).get('fp16', False)
    cfg.test_cfg = dict(type='MultiBenchmarkTestLoop', benchmarks=test_sets, fp16=fp16)
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type='ProgressBarHook'),
        dict(type='BenchmarkReportHook', model_name=config_name),
        dict(type='WorstImagesVisualizationHook', num_worst=args.num_worst),
    ]
    return cfg


def main(argv=None) -> Dict[str, dict]:
    args = parse_args(argv)
    with one_line_errors('test.py'):
        register_all_modules()
        cfg = build_config(args)
        setup_cpu_distributed(cfg)  # gloo and CPU DDP when launched without CUDA
        return build_runner(cfg).test()


if __name__ == '__main__':
    main()
    teardown_distributed()  # after main() let go of the runner (it holds the group)
