"""A tiny random Depth Anything V2 (and its config and checkpoint) for the demo's tests."""

import cv2
import numpy as np
import pytest
import torch

from mmdistilldepth.demo.core import DemoModel
from mmdistilldepth.models.estimators import DepthAnythingV2

TINY_CONFIG = """model = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3)),
    features=16, out_channels=[8, 16, 24, 48])
"""
INPUT_SIZE = 56  # a 4x4-patch network input keeps every call in milliseconds


def _tiny(seed: int) -> DepthAnythingV2:
    torch.manual_seed(seed)
    model = DepthAnythingV2(
        dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3)), 16, [8, 16, 24, 48]
    )
    with torch.no_grad():
        model.depth_head.scratch.output_conv2[2].bias.fill_(1.0)  # positive, not ReLU'd to 0
    return model.eval()


@pytest.fixture(scope='session')
def tiny_files(tmp_path_factory):
    """(config path, checkpoint path) of the tiny model, as tools/infer.py takes them."""
    root = tmp_path_factory.mktemp('tiny_model')
    (root / 'tiny.py').write_text(TINY_CONFIG)
    torch.save(_tiny(0).state_dict(), root / 'tiny.pth')
    return str(root / 'tiny.py'), str(root / 'tiny.pth')


@pytest.fixture(scope='session')
def tiny_models():
    """Two different tiny models as the demo runs them (A and B of the Compare tab)."""
    return [
        DemoModel('tiny_a', _tiny(0), INPUT_SIZE, 280),
        DemoModel('tiny_b', _tiny(1), INPUT_SIZE, 280),
    ]


@pytest.fixture(scope='session')
def image_file(tmp_path_factory):
    """A 40x60 RGB PNG with structure (a gradient and a disc)."""
    path = tmp_path_factory.mktemp('images') / 'photo.png'
    yy, xx = np.mgrid[0:40, 0:60]
    rgb = np.stack([xx * 4, yy * 6, 255 - xx * 4], -1).astype(np.uint8)
    cv2.circle(rgb, (30, 20), 10, (250, 250, 30), -1)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return str(path)
