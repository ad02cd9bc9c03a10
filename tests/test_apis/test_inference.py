import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdistilldepth.apis import dav2_input_size, inference_depth, init_model, prepare_dav2_input
from mmdistilldepth.models.estimators import DepthAnythingV2
from mmdistilldepth.utils.image_io import read_rgb
from tests.conftest import REPO_ROOT, require_fixture

TINY = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3)),
    features=16,
    out_channels=[8, 16, 24, 48],
)


@pytest.mark.parametrize(
    'hw,size,expected',
    [
        ((480, 640), 518, (518, 686)),
        ((640, 480), 518, (686, 518)),
        ((518, 539), 518, (518, 532)),  # 38.5 -> 38: numpy rounds half to even
        ((518, 525), 518, (518, 532)),  # 37.5 -> 38
        ((480, 640), 510, (518, 686)),  # round gives 504 < 510 -> ceil gives 518
        ((1000, 1000), 518, (518, 518)),
    ],
)
def test_dav2_input_size(hw, size, expected):
    assert dav2_input_size(*hw, size=size) == expected
    # an upper bound far above these sizes changes nothing
    assert dav2_input_size(*hw, size=size, max_size=2044) == expected


@pytest.mark.parametrize(
    'hw,expected',
    [
        ((200, 20000), (14, 2044)),  # a panorama: 51800x518 without the bound
        ((20000, 200), (2044, 14)),
        ((300, 3000), (210, 2044)),  # long side capped, short side below 518
        ((518, 2044), (518, 2044)),  # exactly at the bound: untouched
    ],
)
def test_dav2_input_size_caps_the_long_side(hw, expected):
    assert dav2_input_size(*hw, size=518, max_size=2044) == expected
    assert max(dav2_input_size(*hw, size=518)) > 2044 or hw == (518, 2044)


def test_preprocessing_reproduces_the_official_tensor():
    rgb = read_rgb(require_fixture('dav2_vits', 'input.png'))
    expected = np.load(require_fixture('dav2_vits', 'input_tensor.npy'))
    x = prepare_dav2_input(rgb, 518)
    assert x.dtype == np.float32 and x.shape == expected.shape == (1, 3, 518, 686)
    assert np.abs(x - expected).max() <= 1e-5


def test_full_inference_reproduces_the_official_output():
    config = osp.join(REPO_ROOT, 'configs/_base_/models/dav2_vits.py')
    model = init_model(config, require_fixture('dav2_vits', 'weights_fp16.safetensors'))
    expected = np.load(require_fixture('dav2_vits', 'output.npy'))
    out = inference_depth(model, require_fixture('dav2_vits', 'input.png'), 518)
    assert out.dtype == np.float32 and out.shape == expected.shape == (480, 640)
    assert np.abs(out - expected).max() <= 1e-5


def test_init_model_builds_only_the_student_of_a_distiller(tmp_path):
    torch.manual_seed(0)
    src = DepthAnythingV2(TINY['encoder'], 16, [8, 16, 24, 48])
    torch.save(
        {'state_dict': {'student.' + k: v for k, v in src.state_dict().items()}, 'meta': {}},
        tmp_path / 'iter_10.pth',
    )
    cfg = Config(
        dict(
            model=dict(
                type='CrossContextDistiller',
                student=dict(TINY, checkpoint='not/on/this/machine.pth'),
                teachers=[dict(type='DepthAnythingTeacher', model=dict(type='DepthAnythingV2'))],
            )
        )
    )
    model = init_model(cfg, str(tmp_path / 'iter_10.pth'))
    assert isinstance(model, DepthAnythingV2) and not model.training
    assert torch.equal(model.pretrained.pos_embed, src.pretrained.pos_embed)
    assert model.cfg.model.type == 'CrossContextDistiller'


def test_inference_depth_on_arrays_and_paths(tmp_path):
    torch.manual_seed(0)
    model = init_model(Config(dict(model=TINY)))
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'a.png'), rgb[..., ::-1])
    a = inference_depth(model, rgb, input_size=28)
    b = inference_depth(model, str(tmp_path / 'a.png'), input_size=28)
    assert a.shape == (33, 47) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match='uint8'):
        inference_depth(model, rgb.astype(np.float32), input_size=28)
