"""The quickstart at a tiny size, run through tools/train.py in a subprocess."""

from __future__ import annotations

import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Sequence

import torch

import mmdistilldepth  # noqa: F401  (allow-lists what MMEngine checkpoints hold)
from tests.conftest import REPO_ROOT, free_port

QUICKSTART = osp.join(REPO_ROOT, 'configs', 'quickstart', 'cross_context_synthetic.py')

#: A 48-wide student on 42 px views of 84 px scenes, batch 2, no validation.
TINY_OPTIONS = [
    'model.train_size=[42,42]',
    'model.student.encoder.embed_dim=48',
    'model.student.encoder.num_heads=2',
    'model.student.features=16',
    'model.student.out_channels=[8,16,24,48]',
    'train_dataloader.batch_size=2',
    'train_dataloader.dataset.height=84',
    'train_dataloader.dataset.width=84',
    # the views scaled with them (the quickstart's are 112 px views of 168 px scenes)
    'train_dataloader.dataset.pipeline.0.global_size=42',
    'train_dataloader.dataset.pipeline.0.shared_side=[48,None]',
    'train_dataloader.dataset.pipeline.0.local_size=42',
    'optim_wrapper.type=SkipNonFiniteOptimWrapper',
    'default_hooks.logger.interval=1',
    'custom_hooks=[]',
]
NO_VALIDATION = [
    'val_cfg=None',
    'val_dataloader=None',
    'val_evaluator=None',
    'test_cfg=None',
    'test_dataloader=None',
    'test_evaluator=None',
]


def tiny_options(
    max_iters: int, checkpoint_interval: int, num_workers: int, extra: Sequence[str] = ()
) -> List[str]:
    workers = [
        f'train_dataloader.num_workers={num_workers}',
        f'train_dataloader.persistent_workers={num_workers > 0}',
    ]
    return [
        *TINY_OPTIONS,
        *workers,
        f'train_cfg.max_iters={max_iters}',
        f'default_hooks.checkpoint.interval={checkpoint_interval}',
        *extra,
    ]


def child_env() -> Dict[str, str]:
    """One thread per process: the tests share two cores with other jobs."""
    return dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def train_command(
    work_dir: str, options: Sequence[str], resume: bool = False, config: str = QUICKSTART
) -> List[str]:
    command = [
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'),
        config,
        '--work-dir',
        str(work_dir),
    ]
    if resume:
        command.append('--resume')
    return command + ['--cfg-options', *options]


def run(command: Sequence[str], timeout: float = 180) -> subprocess.CompletedProcess:
    result = subprocess.run(
        list(command),
        env=child_env(),
        cwd=REPO_ROOT,
        timeout=timeout,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    return result


def student_weights(path: str) -> Dict[str, torch.Tensor]:
    from mmdistilldepth.models.checkpoint_loading import allow_mmengine_checkpoints

    allow_mmengine_checkpoints()  # weights_only=True, with MMEngine's message hub
    state = torch.load(path, map_location='cpu', weights_only=True)['state_dict']
    return {k: v for k, v in state.items() if k.startswith('student.')}


def fault_config(folder, plan) -> str:
    """A quickstart config with ``FaultInjectionHook`` and its plan, written in ``folder``.

    Args:
        folder: where ``plan.json`` and ``quickstart_faults.py`` go.
        plan (list): ``[{"id", "iter", "rank", "kind"}, ...]`` (FaultInjectionHook).

    Returns:
        str: the config; run it with :func:`fault_options` (which keep its hook).
    """
    import json

    plan_path = osp.join(str(folder), 'plan.json')
    with open(plan_path, 'w') as f:
        json.dump(plan, f)
    config = osp.join(str(folder), 'quickstart_faults.py')
    with open(config, 'w') as f:
        f.write(
            f'_base_ = [{QUICKSTART!r}]\n'
            f"custom_hooks = [dict(type='FaultInjectionHook', plan={plan_path!r})]\n"
        )
    return config


def fault_options(max_iters: int, checkpoint_interval: int, num_workers: int) -> List[str]:
    """:func:`tiny_options` without validation, keeping the config's custom hooks."""
    options = tiny_options(max_iters, checkpoint_interval, num_workers, NO_VALIDATION)
    return [o for o in options if not o.startswith('custom_hooks=')]


def dist_train(
    config, work_dir, options: Sequence[str], timeout: float = 300, cwd=REPO_ROOT, **env: str
) -> subprocess.CompletedProcess:
    """``tools/dist_train.sh CONFIG 2`` (torchrun, 2 CPU processes, gloo) on a free port.

    ``env`` adds variables (``MAX_RESTARTS``, ``PYTHONPATH``...); the exit status is
    not checked.
    """
    env = dict(
        child_env(),
        MASTER_ADDR='127.0.0.1',
        PORT=str(free_port()),
        PATH=os.pathsep.join([osp.dirname(sys.executable), os.environ['PATH']]),
        **env,
    )
    command = [osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), str(config), '2']
    command += ['--work-dir', str(work_dir), '--cfg-options', *options]
    return subprocess.run(
        ['bash', *command],
        env=env,
        cwd=str(cwd),
        timeout=timeout,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_any(command: Sequence[str], timeout: float = 180, env=None) -> subprocess.CompletedProcess:
    """:func:`run` without the check of the exit status."""
    return subprocess.run(
        list(command),
        env=env or child_env(),
        cwd=REPO_ROOT,
        timeout=timeout,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def different_tensors(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> List[str]:
    """The names of the tensors that differ (all of them when the keys differ)."""
    if a.keys() != b.keys():
        return sorted(set(a) ^ set(b))
    return [k for k in a if not torch.equal(a[k], b[k])]
