import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdistilldepth.models.estimators import DepthAnythingV2
from mmdistilldepth.registry import MODELS
from mmdistilldepth.structures import DepthDataSample
from tests.conftest import REPO_ROOT, require_fixture

TINY = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3)),
    features=16,
    out_channels=[8, 16, 24, 48],
)


@pytest.fixture(scope='module')
def tiny():
    torch.manual_seed(0)
    return MODELS.build(TINY).eval()


def test_tensor_mode_and_features(tiny):
    x = torch.randn(2, 3, 42, 56)
    with torch.no_grad():
        disp = tiny(x, mode='tensor')
        disp2, feats = tiny.forward_with_features(x)
        last = tiny.backbone(x)[-1][0]
    assert disp.shape == (2, 1, 42, 56) and disp.min() >= 0
    assert torch.equal(disp, disp2)
    assert feats.shape == (2, 48, 3, 4)
    # Row-major patch order: token r * 4 + c is feats[..., r, c].
    assert torch.equal(feats[:, :, 1, 2], last[:, 1 * 4 + 2])
    assert tiny.backbone is tiny.encoder is tiny.pretrained


def test_predict_mode_fills_data_samples(tiny):
    x = torch.randn(2, 3, 28, 42)
    samples = [DepthDataSample(metainfo=dict(img_path=f'{i}.png')) for i in range(2)]
    with torch.no_grad():
        out = tiny(x, samples, mode='predict')
        disp = tiny(x)
    assert out is samples
    assert out[1].pred_depth.data.shape == (1, 28, 42)
    assert torch.equal(out[1].pred_depth.data, disp[1])
    assert out[0].img_path == '0.png'
    with torch.no_grad():
        assert len(tiny(x, mode='predict')) == 2


def test_data_preprocessor_normalizes_with_imagenet_stats(tiny):
    img = torch.full((3, 28, 28), 255, dtype=torch.uint8)
    data = tiny.data_preprocessor(dict(inputs=[img]))
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(data['inputs'][0, :, 0, 0], expected)


def test_loss_mode_explains_and_init_weights_is_a_noop(tiny):
    with pytest.raises(RuntimeError, match='CrossContextDistiller'):
        tiny(torch.randn(1, 3, 14, 14), mode='loss')
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    tiny.init_weights()
    assert all(torch.equal(before[k], v) for k, v in tiny.state_dict().items())


def test_trains_end_to_end(tiny):
    model = MODELS.build(TINY).train()
    with torch.no_grad():  # keep the final ReLU open so gradients reach the head
        model.depth_head.scratch.output_conv2[2].bias.fill_(1.0)
    x = torch.randn(1, 3, 28, 28)
    disp, feats = model.forward_with_features(x)
    (disp.mean() + feats.pow(2).mean()).backward()
    assert model.pretrained.patch_embed.proj.weight.grad.abs().sum() > 0
    assert model.depth_head.scratch.output_conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    'name,dim,depth,layers,features,channels',
    [
        ('vits', 384, 12, (2, 5, 8, 11), 64, [48, 96, 192, 384]),
        ('vitb', 768, 12, (2, 5, 8, 11), 128, [96, 192, 384, 768]),
        ('vitl', 1024, 24, (4, 11, 17, 23), 256, [256, 512, 1024, 1024]),
        ('vitg', 1536, 40, (9, 19, 29, 39), 384, [1536, 1536, 1536, 1536]),
    ],
)
def test_base_configs_build_the_official_sizes(name, dim, depth, layers, features, channels):
    cfg = Config.fromfile(osp.join(REPO_ROOT, f'configs/_base_/models/dav2_{name}.py'))
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert isinstance(model, DepthAnythingV2)
    assert model.pretrained.embed_dim == dim and len(model.pretrained.blocks) == depth
    assert model.pretrained.out_indices == layers
    assert model.depth_head.scratch.output_conv1.in_channels == features
    assert [p.out_channels for p in model.depth_head.projects] == channels


def test_vits_parameter_count_matches_the_official_model():
    with torch.device('meta'):
        model = DepthAnythingV2('vits', 64, [48, 96, 192, 384])
    assert sum(p.numel() for p in model.parameters()) == 24_785_089


# ---------------------------------------------------------------- conformance
@pytest.fixture(scope='module')
def official_vits():
    from safetensors.torch import load_file

    weights = load_file(require_fixture('dav2_vits', 'weights_fp16.safetensors'))
    model = DepthAnythingV2('vits', 64, [48, 96, 192, 384]).eval()
    model.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True)
    x = torch.from_numpy(np.load(require_fixture('dav2_vits', 'input_tensor.npy')))
    return model, x


@pytest.mark.parametrize('fused', [True, False])
def test_raw_output_matches_official(official_vits, fused):
    model, x = official_vits
    model.set_fused_attn(fused)
    with torch.no_grad():
        out = model(x)[0, 0].numpy()
    model.set_fused_attn(True)
    expected = np.load(require_fixture('dav2_vits', 'raw_output.npy'))
    assert out.shape == expected.shape == (518, 686)
    assert np.abs(out - expected).max() <= 1e-5


def test_intermediates_match_official(official_vits):
    model, x = official_vits
    ref = np.load(require_fixture('dav2_vits', 'intermediates.npz'))
    with torch.no_grad():
        feats = model.extract_feat(x)
    assert np.abs(feats[3][0].numpy() - ref['f3']).max() <= 1e-4
    for i in range(3):
        assert np.abs(feats[i][0][:, ::8].numpy() - ref[f'f{i}_sub8']).max() <= 1e-4
    for i in range(4):
        assert np.abs(feats[i][1].numpy() - ref[f'c{i}']).max() <= 1e-4
