"""Train a model from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]] [--amp]
                         [--no-validate] [--auto-scale-lr]
                         [--launcher {none,pytorch,slurm}] [--cfg-options KEY=VALUE ...]

The console shows the progress, the loss terms and the ETA; the config is written to
``WORK_DIR/<config name>.py`` and, with the environment, to the log file
``WORK_DIR/<timestamp>/<timestamp>.log`` (docs/get_started.md, command-line conventions).
"""

import argparse
import os.path as osp

import torch

from mmdistilldepth.engine import (
    check_checkpoint_safe,
    latest_checkpoint,
    setup_cpu_distributed,
    teardown_distributed,
)
from mmdistilldepth.engine.runner import build_runner
from mmdistilldepth.utils import (
    UserInputError,
    add_runner_args,
    check_file,
    load_config,
    one_line_errors,
    parse_runner_args,
    register_all_modules,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a depth model (distillation).')
    parser.add_argument('config', help='the config file')
    parser.add_argument(
        '--work-dir', help='where logs and checkpoints go (default: work_dirs/<config name>)'
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help="resume from a checkpoint: a path, or 'auto' (the default when "
        'the flag is given alone) for the latest one in the work dir',
    )
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision: fp16 AMP on CUDA, bf16 autocast on the CPU',
    )
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='train without validation (no val loop, no best checkpoint)',
    )
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the total batch size (GPUs x batch '
        'per GPU) over auto_scale_lr.base_batch_size of the config',
    )
    add_runner_args(parser, cfg_example='train_cfg.max_iters=10')  # --cfg-options last
    return parse_runner_args(parser, argv)


def build_config(args):
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        if torch.cuda.is_available():
            cfg.optim_wrapper.type = 'SkipNonFiniteAmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        else:
            cfg.optim_wrapper.type = 'AutocastOptimWrapper'
            cfg.optim_wrapper.setdefault('dtype', 'bfloat16')
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.auto_scale_lr:
        if not (cfg.get('auto_scale_lr') or {}).get('base_batch_size'):
            raise UserInputError(
                f'--auto-scale-lr: {args.config} has no auto_scale_lr.base_batch_size; set '
                'the batch size its learning rate is meant for, e.g. --cfg-options '
                'auto_scale_lr.base_batch_size=8'
            )
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        check_file(
            args.resume,
            'checkpoint to resume from',
            'give an existing .pth, or --resume alone for the latest in the work dir',
        )
        cfg.resume = True
        cfg.load_from = args.resume
    if cfg.get('load_from') and not cfg.get('resume'):
        check_file(
            cfg.load_from,
            'load_from checkpoint',
            'fix load_from in the config or with --cfg-options load_from=PATH',
        )
    return cfg


def check_checkpoints(cfg) -> None:
    """Refuse, in one line, a checkpoint to resume from or load that is not safe to read.

    MMEngine would fail inside ``torch.load(weights_only=True)`` with a long message;
    this names the file and how to convert it if it is trusted.
    """
    if cfg.get('resume'):
        path = cfg.get('load_from') or latest_checkpoint(cfg.work_dir)
        check_checkpoint_safe(path, 'checkpoint to resume from')
    else:
        check_checkpoint_safe(cfg.get('load_from'), 'load_from checkpoint')


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('train.py'):
        register_all_modules()
        cfg = build_config(args)
        check_checkpoints(cfg)
        setup_cpu_distributed(cfg)  # gloo and CPU DDP when launched without CUDA
        build_runner(cfg).train()


if __name__ == '__main__':
    main()
    teardown_distributed()  # after main() let go of the runner (it holds the group)
