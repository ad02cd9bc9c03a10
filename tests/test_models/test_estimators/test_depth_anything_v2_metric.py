"""The official metric Depth Anything V2 (``metric_depth/``): head, outputs, checkpoints."""

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdistilldepth.apis import init_model, prepare_dav2_input
from mmdistilldepth.apis.inference import _dav2_resize_output
from mmdistilldepth.models.estimators import DepthAnythingV2
from mmdistilldepth.registry import MODELS
from mmdistilldepth.structures import DepthDataSample
from mmdistilldepth.utils.image_io import read_rgb
from tests.conftest import require_fixture

TINY_ENCODER = dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3))


def tiny(max_depth=None):
    torch.manual_seed(0)
    return DepthAnythingV2(TINY_ENCODER, 16, [8, 16, 24, 48], max_depth=max_depth).eval()


def test_metric_head_layout_keys_and_range():
    rel, met = tiny(), tiny(max_depth=80.0)
    assert list(rel.state_dict()) == list(met.state_dict())  # official checkpoints fit both
    conv2 = met.depth_head.scratch.output_conv2
    assert len(conv2) == 4 and isinstance(conv2[3], torch.nn.Sigmoid)
    assert met.pred_space == 'depth' and rel.pred_space == 'disparity'
    x = torch.randn(2, 3, 28, 42)
    with torch.no_grad():
        depth = met(x)
        samples = met(x, [DepthDataSample(), DepthDataSample()], mode='predict')
        rel_samples = rel(x, mode='predict')
    assert depth.shape == (2, 1, 28, 42)
    assert float(depth.min()) > 0 and float(depth.max()) < 80.0
    assert samples[0].pred_space == 'depth' and rel_samples[1].pred_space == 'disparity'


def test_metric_head_identity_with_the_relative_pre_activation():
    """Metric = max_depth * sigmoid(z) where the relative head gives relu(z)."""
    rel, met = tiny(), tiny(max_depth=20.0)
    met.load_state_dict(rel.state_dict())
    with torch.no_grad():  # keep the relative ReLUs open so relu(z) = z
        for m in (rel, met):
            m.depth_head.scratch.output_conv2[2].bias.fill_(3.0)
        x = torch.randn(1, 3, 28, 28)
        z, depth = rel(x), met(x)
    assert float(z.min()) > 0
    torch.testing.assert_close(depth, 20.0 * torch.sigmoid(z), atol=1e-5, rtol=1e-5)


def test_bad_max_depth_is_refused():
    with pytest.raises(ValueError, match='max_depth'):
        DepthAnythingV2(TINY_ENCODER, 16, [8, 16, 24, 48], max_depth=0.0)


@pytest.fixture(scope='module')
def official_metric_raw():
    """The metric DAv2-S (max_depth 20) on the fixture's input tensor, loaded through
    the checkpoint loader (as an official metric ``.pth`` is) by ``init_model``.
    """
    cfg = Config(dict(model=dict(type='DepthAnythingV2', encoder='vits', max_depth=20.0)))
    model = init_model(cfg, require_fixture('dav2_vits', 'weights_fp16.safetensors'))
    x = torch.from_numpy(np.load(require_fixture('dav2_vits', 'input_tensor.npy')))
    with torch.no_grad():
        return model(x)


def test_metric_vits_reproduces_the_official_raw_output(official_metric_raw):
    out = official_metric_raw[0, 0].numpy()
    expected = np.load(require_fixture('dav2_vits', 'raw_output_metric20.npy'))
    assert out.shape == expected.shape == (518, 686)
    assert np.abs(out - expected).max() <= 1e-4
    relative = np.load(require_fixture('dav2_vits', 'raw_output.npy'))
    assert np.abs(out - 20.0 / (1.0 + np.exp(-relative))).max() <= 1e-4


def test_metric_vits_reproduces_the_official_infer_image(official_metric_raw):
    """``infer_image``: the official preprocessing of input.png (its tensor is the
    fixture's input, checked here) and the bilinear align_corners resize back.
    """
    rgb = read_rgb(require_fixture('dav2_vits', 'input.png'))
    x = prepare_dav2_input(rgb, 518)
    assert np.abs(x - np.load(require_fixture('dav2_vits', 'input_tensor.npy'))).max() <= 1e-5
    out = _dav2_resize_output(official_metric_raw, rgb.shape[:2])[0, 0].numpy()
    expected = np.load(require_fixture('dav2_vits', 'output_metric20.npy'))
    assert out.shape == expected.shape == (480, 640)
    assert np.abs(out - expected).max() <= 1e-4


def test_metric_config_builds_from_the_registry():
    model = MODELS.build(dict(type='DepthAnythingV2', encoder=TINY_ENCODER, max_depth=20))
    assert model.max_depth == 20.0 and model.depth_head.max_depth == 20.0


@pytest.mark.parametrize('encoder,max_depth', [('vitb', 80.0), ('vitl', 20.0)])
def test_every_size_has_the_official_metric_keys(encoder, max_depth):
    """The released metric checkpoints (hypersim 20 m, vkitti 80 m) have the relative keys."""
    with torch.device('meta'):
        rel = DepthAnythingV2(encoder)
        met = DepthAnythingV2(encoder, max_depth=max_depth)
    assert [(k, v.shape) for k, v in rel.state_dict().items()] == [
        (k, v.shape) for k, v in met.state_dict().items()
    ]
    assert met.depth_head.max_depth == max_depth
