"""tools/analysis/benchmark_train_step.py on the meta device: FLOPs against an
independent count, the JSON keys, a plausible memory figure.
"""

import json

import pytest
import torch

from tests.conftest import load_tool

KEYS = {
    'flops_per_iter',
    'flops_breakdown',
    'peak_memory_gib',
    'fits_gib',
    'assumptions',
    'device',
    'batch_size',
    'config',
}


def vit_l_encoder_flops(views: int, side: int = 560, width: int = None) -> int:
    """Matmul FLOPs of the DINOv2 ViT-L encoder (24 blocks, C=1024, patch 14)."""
    n, c = (side // 14) * ((width or side) // 14) + 1, 1024
    per_block = 24 * n * c * c + 4 * n * n * c  # qkv, proj, fc1, fc2 + QK^T, AV
    patch_embed = 2 * (n - 1) * 3 * 14 * 14 * c
    return views * (24 * per_block + patch_embed)


@pytest.fixture(scope='module')
def tool():
    return load_tool('analysis', 'benchmark_train_step.py')


def test_quickstart_meta(tool, tmp_path):
    out = tmp_path / 'q.json'
    report = tool.main(['configs/quickstart/cross_context_synthetic.py', '--json', str(out)])
    data = json.loads(out.read_text())
    assert KEYS <= set(data)
    assert data['flops_per_iter'] == report['flops_per_iter'] > 0
    assert sum(data['flops_breakdown'].values()) == data['flops_per_iter']
    assert data['flops_breakdown']['student_backward'] > data['flops_breakdown']['student_forward']
    assert 0 < data['peak_memory_gib'] < 1
    assert set(data['fits_gib']) == {'16', '24', '32', '40', '80'}
    assert data['fits_gib']['80'] > data['fits_gib']['16'] > 0


def test_mission_config_meta(tool, tmp_path):
    report = tool.main(['configs/cross_context_dav2_l.py', '--no-fit'])
    breakdown = report['flops_breakdown']
    # item 3: the L_feat encoder is the teacher's (same checkpoint): the shared views'
    # targets come from the teacher call, only the 8 global views are encoded again
    args = tool.parse_args(['configs/cross_context_dav2_l.py'])
    cfg = tool.load_benchmark_config(args)
    assert cfg.model.feat_source == 'teacher'
    batch = tool.make_batch(cfg, 1, args.image_size)
    hg, wg = batch['data_samples'][0].metainfo['img_shape']
    assert breakdown['frozen_encoder'] == vit_l_encoder_flops(8, hg, wg)
    # independent count: standalone DAv2-L student fwd+bwd and teacher fwd on 16 views
    from mmdistilldepth.models.estimators import DepthAnythingV2

    with torch.device('meta'):
        net = DepthAnythingV2('vitl')
    x = torch.empty(16, 3, 560, 560, device='meta')
    counter = torch.utils.flop_counter.FlopCounterMode(display=False)
    with counter:
        net.forward_with_features(x)[0].sum().backward()
    student = counter.get_total_flops()
    counter = torch.utils.flop_counter.FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(x)
    teacher16 = counter.get_total_flops()
    assert report['flops_per_iter'] >= student + teacher16
    # the teacher: 8 shared crops + 8 x 4 local patches, all 560 x 560
    assert breakdown['teacher'] == pytest.approx(teacher16 * 40 / 16, rel=1e-6)
    # item 2: the shipped levers are read from the config, and batch 8 fits 32 GB
    assert report['levers'] == dict(
        amp='bf16', grad_checkpoint=True, sdpa=True, teacher_micro_batch=8
    )
    assert 5.5 < report['peak_memory_gib'] < 32
    assert report['memory_breakdown_gib']['optimizer_state'] == pytest.approx(
        2 * report['memory_breakdown_gib']['gradients'], rel=1e-3
    )


def test_levers_come_from_the_config_and_flags_override_them(tool):
    def levers(*flags):
        args = tool.parse_args(['configs/cross_context_dav2_l.py', *flags])
        cfg = tool.load_benchmark_config(args)
        return cfg, tool.benchmark_levers(cfg, args)

    cfg, shipped = levers()
    assert shipped == dict(amp='bf16', grad_checkpoint=True, sdpa=True, teacher_micro_batch=8)
    assert cfg.model.student.checkpoint is None  # meta: no checkpoint is read
    cfg, off = levers(
        '--amp', 'none', '--no-grad-checkpoint', '--no-sdpa', '--teacher-micro-batch', '0'
    )
    assert off == dict(amp='none', grad_checkpoint=False, sdpa=False, teacher_micro_batch=None)
    assert (
        cfg.optim_wrapper.type == 'SkipNonFiniteOptimWrapper' and 'dtype' not in cfg.optim_wrapper
    )
    assert cfg.model.teacher.model.fused_attn is False and cfg.model.student.with_cp is False
    args = tool.parse_args(['configs/quickstart/cross_context_synthetic.py', '--amp', 'bf16'])
    cfg = tool.load_benchmark_config(args)
    assert tool.config_levers(cfg)['amp'] == 'bf16'
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'


def test_gpu_check_script_passes_flags_the_tool_accepts(tool):
    """tools/analysis/gpu_check.sh cannot run here (no GPU): its commands parse."""
    import os.path as osp
    import shlex
    import subprocess

    from tests.conftest import REPO_ROOT

    script = osp.join(REPO_ROOT, 'tools', 'analysis', 'gpu_check.sh')
    assert subprocess.run(['bash', '-n', script]).returncode == 0
    runs = [line.split()[1:] for line in open(script) if line.startswith('run ')]
    assert [r[1] for r in runs] == ['mission_bf16', 'mission_bf16_no_cp']
    assert sum(int(r[0]) for r in runs) < 300  # the whole check under five minutes
    for _, name, *flags in (shlex.split(' '.join(r).split('||')[0]) for r in runs):
        common = ['--device', 'cuda', '--batch-size', '8', '--iters', '5', '--json', 'x.json']
        args = tool.parse_args(['configs/cross_context_dav2_l.py', *common, *flags])
        assert args.amp == 'bf16' and args.device == 'cuda'
