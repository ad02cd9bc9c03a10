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
    # the L_feat encoder: exactly ViT-L on the 16 student views: 8 shared crops at 560x560
    # and the 8 whole 1500x2250 images at their global view, 462x686 (docs/method.md)
    assert breakdown['frozen_encoder'] == vit_l_encoder_flops(8) + vit_l_encoder_flops(8, 462, 686)
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
    # the teacher: 8 shared crops and 8 x 4 local patches, all 560x560
    assert breakdown['teacher'] == pytest.approx(teacher16 * 40 / 16, rel=1e-6)
    assert 5.5 < report['peak_memory_gib'] < 200
    assert report['memory_breakdown_gib']['optimizer_state'] == pytest.approx(
        2 * report['memory_breakdown_gib']['gradients'], rel=1e-3
    )
