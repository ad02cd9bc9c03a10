"""Train a model from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]] [--amp]
                         [--no-validate] [--auto-scale-lr]
                         [--launcher {none,pytorch,slurm}] [--cfg-options KEY=VALUE ...]

The console shows the progress, the loss terms and the ETA; the config is written to
``WORK_DIR/<config name>.py`` and, with the environment, to the log file
``WORK_DIR/<timestamp>/<timestamp>.log`` (docs/get_started.md, command-line conventions).

Faults (docs/reliability.md): ``--resume`` skips a truncated or corrupt newest checkpoint
for the previous good one; a process restarted by ``torchrun --max-restarts`` or requeued
by Slurm resumes by itself; SIGTERM/SIGUSR1 save a checkpoint and exit with 128 + the
signal's number.
"""

import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys

import torch

from mmdistilldepth.engine import (
    check_checkpoint_safe,
    init_restarted_group,
    setup_cpu_distributed,
    teardown_distributed,
)
from mmdistilldepth.engine.runner import build_runner
from mmdistilldepth.models.checkpoint_loading import (
    check_teachers_unchanged,
    checkpoint_problem,
    resume_checkpoint,
)
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


#: Set by torchrun in a restarted group (``--max-restarts``) and by Slurm in a requeued job.
RESTART_COUNTERS = ('TORCHELASTIC_RESTART_COUNT', 'SLURM_RESTART_COUNT')


def restarted_by() -> str:
    """The launcher variable saying this process is a restart ('' for a first start)."""
    return next((v for v in RESTART_COUNTERS if os.environ.get(v, '0') not in ('', '0')), '')


def check_checkpoints(cfg, notes=None) -> None:
    """Choose the checkpoint to resume from; refuse, in one line, one that is not safe.

    ``--resume`` alone takes the newest whole checkpoint of the work dir: one that
    is truncated or corrupt is named (in ``notes``) and the previous one is used.
    MMEngine would fail inside ``torch.load(weights_only=True)`` with a long message
    on an unsafe file; this names the file and how to convert it if it is trusted.
    A resume also stops here when a teacher checkpoint is missing or changed.
    """
    notes = [] if notes is None else notes
    if cfg.get('resume'):
        if cfg.get('load_from'):
            path = cfg.load_from
            problem = checkpoint_problem(path)
            if problem is not None:
                raise UserInputError(
                    f'checkpoint to resume from {path} is unusable ({problem}); give '
                    'another, or --resume alone for the newest whole one in the work dir'
                )
        else:
            path = resume_checkpoint(cfg.work_dir, warn=notes.append)
            for note in notes:
                print(f'train.py: {note}', file=sys.stderr, flush=True)
            cfg.load_from = path  # None: a fresh start
        check_checkpoint_safe(path, 'checkpoint to resume from')
        if path:
            check_teachers_unchanged(path, cfg.get('model') or {})
    else:
        check_checkpoint_safe(cfg.get('load_from'), 'load_from checkpoint')


def stopped_by_signal(runner):
    """The signal name that stopped training (AtomicCheckpointHook), else None."""
    return next(
        (h.stopped_by_signal for h in runner.hooks if getattr(h, 'stopped_by_signal', None)),
        None,
    )


def requeue_slurm_job(signal_name: str) -> None:
    """On SIGUSR1 (``--signal=USR1@S``, the time limit is near) rank 0 requeues the job.

    SIGTERM is left alone: Slurm requeues a preempted ``--requeue`` job itself, and
    ``scancel`` must stop it.
    """
    job = os.environ.get('SLURM_JOB_ID')
    if signal_name != 'SIGUSR1' or not job or os.environ.get('RANK', '0') != '0':
        return
    if shutil.which('scontrol') is None:
        return
    subprocess.run(['scontrol', 'requeue', job], check=False)


def worker_death(exc: BaseException):
    """The "DataLoader worker ... killed" message behind ``exc``, else None.

    PyTorch raises it from its SIGCHLD handler, wherever the main process is at that
    moment, so code there may have wrapped it in another exception: the chain of
    causes and contexts is searched.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, RuntimeError) and 'DataLoader worker' in str(exc):
            return str(exc).strip().splitlines()[0]
        exc = exc.__cause__ or exc.__context__
    return None


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('train.py'):
        register_all_modules()
        restart = restarted_by()
        if restart and args.resume is None:
            args.resume = 'auto'  # a restarted group / requeued job continues by itself
        cfg = build_config(args)
        notes = []
        pointer = osp.join(cfg.work_dir, 'last_checkpoint')
        if restart and args.resume != 'auto' and osp.isfile(pointer):
            # --resume PATH on the command line: a restart goes on from the newest instead
            notes.append(f'{restart}: resuming from the newest checkpoint, not {args.resume}')
            cfg.load_from = None
        check_checkpoints(cfg, notes)
        setup_cpu_distributed(cfg)  # gloo and CPU DDP when launched without CUDA
        init_restarted_group(cfg)  # a group restarted by torchrun: fresh store keys
        runner = build_runner(cfg)
        if restart:
            runner.logger.warning(f'{restart}={os.environ[restart]}: resuming by itself')
        for note in notes:
            runner.logger.warning(note)
        try:
            runner.train()
        except Exception as exc:
            first = worker_death(exc)
            if first is None:
                raise
            print(
                f'train.py: error: a data-loading worker died ({first}); the out-of-memory '
                'killer is the usual cause: lower train_dataloader.num_workers or the batch '
                'size if it repeats, and continue with --resume',
                file=sys.stderr,
                flush=True,
            )
            return 1
        name = stopped_by_signal(runner)
        if name is not None:
            import signal

            requeue_slurm_job(name)
            return 128 + int(getattr(signal, name))
    return 0


if __name__ == '__main__':
    status = main()
    grouped = torch.distributed.is_available() and torch.distributed.is_initialized()
    if grouped and status not in (0, None) and status < 128:
        # a failure on this rank only: the others may be inside a collective, so a
        # barrier here would wait for ever; leave now and let the launcher stop them
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    teardown_distributed()  # after main() let go of the runner (it holds the group)
    sys.exit(status)
