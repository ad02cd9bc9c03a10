"""The DAv2-G FSDP config and its pieces (mmdistilldepth/engine/fsdp.py).

FSDP itself cannot run on a CPU with this stack: torch 2.14's FullyShardedDataParallel
(which MMEngine 0.10.7's MMFullyShardedDataParallel wraps) raises "FSDP needs a non-CPU
accelerator device, but no accelerator device is detected." (docs/long_runs.md). What
runs here: the config builds (1.3B-parameter student), the auto-wrap policy picks the
ViT blocks, and the sharded gradient clipping equals clipping the whole gradient
(the all-reduce between 2 processes played by the test).
"""

import os

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import FUNCTIONS

from mmdistilldepth.engine.fsdp import ShardedClipOptimWrapper, vit_block_auto_wrap_policy
from mmdistilldepth.engine.optim import nonfinite_guard
from mmdistilldepth.registry import MODELS
from mmdistilldepth.utils import register_all_modules
from tests.conftest import REPO_ROOT

register_all_modules()
CONFIG = os.path.join(
    REPO_ROOT, 'configs', 'cross_context', 'cross-context_dav2-g_dav2-l_fsdp_8xb1-20k_sa1b-560.py'
)


def test_dav2g_fsdp_config_builds():
    cfg = Config.fromfile(CONFIG)
    assert cfg.runner_type == 'FlexibleRunner' and cfg.strategy.type == 'FSDPStrategy'
    policy = cfg.strategy.model_wrapper.auto_wrap_policy
    assert FUNCTIONS.get(policy) is vit_block_auto_wrap_policy
    assert cfg.optim_wrapper.type == 'ShardedClipOptimWrapper'
    model_cfg = cfg.model.to_dict()
    model_cfg['teacher']['checkpoint'] = None
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    student = sum(p.numel() for p in model.student.parameters())
    assert 1.2e9 < student < 1.4e9  # DAv2-G: 1.3B
    assert model.feat_source == 'copy'  # a ViT-g student, a ViT-L teacher: not the same


def test_auto_wrap_policy_wraps_each_vit_block():
    student = MODELS.build(
        dict(
            type='DepthAnythingV2',
            encoder=dict(embed_dim=48, depth=3, num_heads=2, layer_idx=(0, 1, 2, 2)),
            features=16,
            out_channels=(8, 16, 32, 32),
        )
    )
    units = [m for m in student.modules() if vit_block_auto_wrap_policy(m, False, 0)]
    assert units == list(student.pretrained.blocks)
    assert vit_block_auto_wrap_policy(student, True, 0)  # recursion goes on


def test_sharded_clip_equals_clipping_the_whole_gradient(monkeypatch):
    """Two processes' shards of one gradient, the all-reduce played by the test: the
    clipped shards are the shards of the whole gradient clipped by its global norm.
    """
    torch.manual_seed(0)
    full = torch.randn(10) * 3
    shards = full.chunk(2)
    expected = full * min(1.0, 1.0 / (full.norm().item() + 1e-6))
    clipped = []
    for rank in range(2):
        other = shards[1 - rank].pow(2).sum()
        reduced = []

        def all_reduce(tensor, op=dist.ReduceOp.SUM, other=other, reduced=reduced):
            reduced.append(op)
            if op == dist.ReduceOp.SUM:
                tensor += other  # the other process's sum of squares

        monkeypatch.setattr(dist, 'is_initialized', lambda: True)
        monkeypatch.setattr(dist, 'all_reduce', all_reduce)
        # the finite flag goes through the guard's (mmengine's) all_reduce
        monkeypatch.setattr(nonfinite_guard, 'get_world_size', lambda: 2)
        monkeypatch.setattr(
            nonfinite_guard, 'all_reduce', lambda t, op='sum', r=reduced: r.append(op)
        )
        param = torch.nn.Parameter(torch.zeros(5))
        param.grad = shards[rank].clone()
        wrapper = ShardedClipOptimWrapper(
            optimizer=torch.optim.SGD([param], lr=1.0), clip_grad=dict(max_norm=1.0)
        )
        assert wrapper._grads_finite() and reduced == ['min']
        wrapper._clip_grad()
        clipped.append(param.grad)
    torch.testing.assert_close(torch.cat(clipped), expected, rtol=1e-5, atol=1e-6)
    # a per-shard clip (what clip_grad_norm_ does on each process) would differ
    per_shard = torch.cat([c * min(1.0, 1.0 / c.norm().item()) for c in shards])
    assert not torch.allclose(per_shard, expected)
