"""Sharded training with MMEngine's ``FSDPStrategy`` (``FlexibleRunner``).

``configs/_base_/strategies/fsdp.py`` names these by their registry names:

* :func:`vit_block_auto_wrap_policy`: one FSDP unit per ViT block of the student, so
  that at most one block's full parameters are gathered at a time;
* :class:`ShardedClipOptimWrapper`: gradient clipping by the norm of the WHOLE
  gradient, summed over the shards of every process (a plain ``clip_grad_norm_``
  would clip each process's shard by its own norm).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from mmengine.registry import FUNCTIONS

from mmdistilldepth.registry import OPTIM_WRAPPERS

from .optim import AutocastOptimWrapper


@FUNCTIONS.register_module()
def vit_block_auto_wrap_policy(module: torch.nn.Module, recurse: bool, nonwrapped_numel: int):
    """FSDP auto-wrap policy: every timm ViT ``Block`` (the DINOv2 encoder's) is a unit."""
    from timm.models.vision_transformer import Block
    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

    return transformer_auto_wrap_policy(
        module, recurse, nonwrapped_numel, transformer_layer_cls={Block}
    )


@OPTIM_WRAPPERS.register_module()
class ShardedClipOptimWrapper(AutocastOptimWrapper):
    """``AutocastOptimWrapper`` whose ``clip_grad`` norm is that of the whole gradient.

    Under FSDP (``use_orig_params=True``, full sharding) each process holds disjoint
    shards of the gradient: the global norm is the square root of the sum over the
    processes of their shards' squared norms. Only ``max_norm`` with the 2-norm is
    supported (the configs' ``clip_grad=dict(max_norm=...)``). The finite check of the
    gradients is global already (``NonFiniteGuardMixin`` takes the minimum over the
    ranks), so every process skips or steps together.
    """

    def _device(self) -> torch.device:
        for group in self.optimizer.param_groups:
            for p in group['params']:
                return p.device
        return torch.device('cpu')

    def _clip_grad(self) -> None:
        params = [
            p
            for group in self.optimizer.param_groups
            for p in group['params']
            if p.grad is not None and p.grad.numel()
        ]
        kwargs = dict(self.clip_grad_kwargs)
        max_norm = float(kwargs.pop('max_norm'))
        if kwargs.get('norm_type', 2.0) != 2.0:
            raise ValueError('ShardedClipOptimWrapper: only norm_type=2 is supported')
        local = torch.zeros((), device=self._device(), dtype=torch.float32)
        for p in params:
            local += p.grad.detach().float().pow(2).sum()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(local)
        total = local.sqrt()
        scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad.detach().mul_(scale.to(p.grad.dtype))
        self.message_hub.update_scalar('train/grad_norm', float(total))
