"""Multi-process runs without CUDA: the gloo backend and CPU DDP under MMEngine."""

from __future__ import annotations

import datetime
import gc
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

from mmdistilldepth.utils.cli import UserInputError


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare a config for DDP on CPUs; True when it did (launched, and no CUDA).

    MMEngine 0.10.7 assumes GPUs when it launches processes: its ``init_dist`` calls
    ``torch.cuda.set_device`` and its DDP wrapper passes ``device_ids=[LOCAL_RANK]``.
    Without CUDA this function

    - sets ``env_cfg.dist_cfg.backend`` to ``'gloo'`` (NCCL needs GPUs),
    - initializes the process group itself from the torchrun environment (``RANK``,
      ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), so the runner finds it
      initialized and skips ``init_dist``,
    - sets ``model_wrapper_cfg.device_ids=None`` (DDP of a CPU module).

    With CUDA, or without a launcher, the config is left as it is.

    Args:
        cfg (Config): the training or test config; ``cfg.launcher`` is read.

    Raises:
        UserInputError: ``--launcher slurm`` without CUDA (use torchrun on CPUs).
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise UserInputError(
            f'--launcher {launcher} needs CUDA GPUs; on CPUs launch the '
            'processes with torchrun (tools/dist_train.sh, --launcher pytorch)'
        )
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False),
    )
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if not torch_dist.is_initialized():
        missing = [
            k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ
        ]
        if missing:
            raise UserInputError(
                f'--launcher pytorch, but {", ".join(missing)} not set: start '
                'the processes with torchrun (tools/dist_train.sh)'
            )
        if not init_restarted_group(cfg):
            kwargs = {}
            if dist_cfg.get('timeout') is not None:
                kwargs['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
            torch_dist.init_process_group(
                backend='gloo',
                rank=int(os.environ['RANK']),
                world_size=int(os.environ['WORLD_SIZE']),
                **kwargs,
            )
    return True


def init_restarted_group(cfg: Config) -> bool:
    """In a group restarted by torchrun, join the process group under a fresh store prefix.

    ``torchrun --max-restarts`` starts the new group against the store the dead group
    used; the process group's keys (the addresses gloo connects to, NCCL's unique id)
    are the same in every round, so a new rank can read a dead rank's address and fail
    with "Connection refused". Here the store is wrapped in a prefix per restart
    (``TORCHELASTIC_RESTART_COUNT``), so each round sees only its own keys. A no-op
    (False) in a first start, without torchrun, or when a group exists. The runner
    then finds the group initialized and skips MMEngine's ``init_dist`` (whose CUDA
    device choice is made here too).

    Args:
        cfg (Config): the config; ``launcher`` and ``env_cfg.dist_cfg`` are read.

    Returns:
        bool: whether the group was initialized here.
    """
    attempt = os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')
    if (
        cfg.get('launcher', 'none') != 'pytorch'
        or attempt in ('', '0')
        or not torch_dist.is_available()
        or torch_dist.is_initialized()
    ):
        return False
    dist_cfg = cfg.get('env_cfg', {}).get('dist_cfg', {})
    backend = dist_cfg.get('backend', 'nccl')
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
    timeout = datetime.timedelta(seconds=dist_cfg.get('timeout') or 1800)
    rank, world_size = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    agent_store = os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True'
    store = torch_dist.TCPStore(
        os.environ['MASTER_ADDR'],
        int(os.environ['MASTER_PORT']),
        world_size,
        is_master=not agent_store and rank == 0,
        timeout=timeout,
    )
    store = torch_dist.PrefixStore(f'mmdistilldepth/restart_{attempt}', store)
    torch_dist.init_process_group(
        backend=backend, store=store, rank=rank, world_size=world_size, timeout=timeout
    )
    return True


def teardown_distributed() -> None:
    """Wait for every rank, then close the process group (when there is one).

    Call it once the runner is no longer referenced (e.g. after ``main()`` returns):
    its DDP wrapper holds the process group, whose gloo threads, left running until
    the interpreter exits, can abort the process ("terminate called without an
    active exception") and fail a run that has finished.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        gc.collect()  # the runner sits in reference cycles
        torch_dist.barrier()
        torch_dist.destroy_process_group()
