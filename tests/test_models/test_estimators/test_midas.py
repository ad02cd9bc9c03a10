"""MiDaS v3.1 against the official fixtures (README section 4) and on tiny models.

The fixture weights are rebuilt from ``keys.json`` by the rule (``midas_weights.py``),
saved once per session as an official-format ``.pt`` without the structural buffers,
and loaded through ``init_model('configs/_base_/models/<variant>.py', file)``. The
BEiT-L forward runs once per session and its results are shared.
"""

import hashlib
import os.path as osp

import numpy as np
import pytest
import torch

from mmdistilldepth.apis import inference_depth, init_model
from mmdistilldepth.models.checkpoint_loading import CheckpointError, load_depth_checkpoint
from mmdistilldepth.models.estimators.midas import midas_input_size
from mmdistilldepth.models.midas_checkpoint import to_midas_layout
from mmdistilldepth.registry import MODELS
from tests.conftest import REPO_ROOT, require_fixture
from tests.test_models.test_estimators.midas_weights import (
    read_keys,
    rule_tensor,
    write_official_pt,
)

VARIANTS = ('midas_dpt_beit_large_512', 'midas_dpt_swin2_tiny_256')
#: Fixture weights in float32 and a forward's peak, with margin (bytes).
NEEDED_MEMORY = {'midas_dpt_beit_large_512': 6 << 30, 'midas_dpt_swin2_tiny_256': 1 << 30}

TINY_BEIT = dict(
    type='MiDaS',
    model_type='dpt_beit_large_512',
    features=16,
    backbone=dict(
        timm_kwargs=dict(img_size=64, embed_dim=32, depth=4, num_heads=2),
        hooks=[0, 1, 2, 3],
        out_channels=[8, 16, 32, 32],
    ),
)
TINY_SWIN2 = dict(
    type='MiDaS',
    model_type='dpt_swin2_tiny_256',
    features=16,
    backbone=dict(
        timm_kwargs=dict(
            img_size=64, embed_dim=8, depths=(2, 2, 2, 2), num_heads=(1, 1, 1, 1), window_size=4
        )
    ),
)


def available_memory() -> int:
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) * 1024
    return 1 << 62  # pragma: no cover - not Linux


def max_rel(a, ref) -> float:
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    assert a.shape == ref.shape, (a.shape, ref.shape)
    return float(np.abs(a - ref).max() / np.abs(ref).max())


@pytest.fixture(scope='session')
def midas_weights_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('midas_weights')


class Reference:
    """One variant's fixture folder, rebuilt checkpoint, model and shared outputs."""

    def __init__(self, name: str, weights_dir) -> None:
        self.folder = require_fixture(name)
        if available_memory() < NEEDED_MEMORY[name]:
            pytest.skip(
                f'{name}: the rebuilt fixture weights and a forward need about '
                f'{NEEDED_MEMORY[name] >> 30} GiB of free memory, '
                f'{available_memory() >> 20} MiB available'
            )
        self.name = name
        self.pt = write_official_pt(self.folder, str(weights_dir / f'{name}.pt'))
        self.config = osp.join(REPO_ROOT, 'configs', '_base_', 'models', f'{name}.py')
        self.model = init_model(self.config, self.pt)
        self.x = torch.from_numpy(np.load(osp.join(self.folder, 'input_tensor.npy')))
        self.inter = dict(np.load(osp.join(self.folder, 'intermediates.npz')))
        with torch.no_grad():
            if name.startswith('midas_dpt_beit'):
                grid = (self.x.shape[-2] // 16, self.x.shape[-1] // 16)
                self.tokens = self.model.pretrained.forward_tokens(self.x)
                levels = self.model.pretrained.reassemble(self.tokens, grid)
            else:
                self.tokens = None
                levels = self.model.extract_feat(self.x)
            self.raw, extra = self.model.scratch.forward_intermediates(levels)
        self.levels, self.path1, self.prerelu = levels, extra['path1'], extra['prerelu']

    def load(self, file: str) -> np.ndarray:
        return np.load(osp.join(self.folder, file))


_REFERENCES = {}


@pytest.fixture(scope='session', params=VARIANTS)
def ref(request, midas_weights_dir):
    if request.param not in _REFERENCES:
        _REFERENCES[request.param] = Reference(request.param, midas_weights_dir)
    return _REFERENCES[request.param]


# ---------------------------------------------------------------- fixture facts
@pytest.mark.parametrize('name', VARIANTS)
def test_official_keys_and_structural_buffers(name):
    """Our model in the official layout has exactly keys.json's keys, shapes and
    rebuilt structural buffers (sha256 of their raw little-endian bytes in their own
    dtype, which the field ``sha256_of_float32_bytes`` holds for int64 too).
    """
    entries = read_keys(require_fixture(name))
    cfg = dict(type='MiDaS', model_type=name[len('midas_') :])
    with torch.device('meta'):
        model = MODELS.build(cfg)
    state = to_midas_layout(model.state_dict())
    buffers = model.structural_buffers()
    official = {**state, **buffers}
    assert sorted(official) == sorted(e['key'] for e in entries)
    for e in entries:
        assert list(official[e['key']].shape) == e['shape'], e['key']
        if e['init'] == 'constructor':
            buffer = buffers[e['key']]
            assert str(buffer.dtype) == 'torch.' + e['dtype'], e['key']
            data = buffer.numpy().tobytes()
            assert hashlib.sha256(data).hexdigest() == e['sha256_of_float32_bytes'], e['key']


@pytest.mark.parametrize('name', VARIANTS)
def test_weight_rule_std_matches_keys_json(name):
    entries = [e for e in read_keys(require_fixture(name)) if e['init'] == 'normal']
    for e in entries[:40]:
        if len(e['shape']) >= 2:
            assert int(np.prod(e['shape'][1:])) == e['fan_in'], e['key']
    small = [e for e in entries if int(np.prod(e['shape'])) < 5000][:20]
    for e in small:  # the realised std is near the stated one
        t = rule_tensor(e)
        assert t.dtype == np.float32 and t.shape == tuple(e['shape'])
    one = small[0]
    np.testing.assert_array_equal(
        rule_tensor(one),
        np.random.default_rng(one['index']).standard_normal(tuple(one['shape']), dtype=np.float32)
        * np.float32(one['std']),
    )


def test_minimal_resize_examples():
    assert midas_input_size(480, 600, 512, True) == (512, 640)
    assert midas_input_size(301, 499, 512, True) == (320, 512)
    assert midas_input_size(480, 600, 256, False) == (256, 256)


# ---------------------------------------------------------------- conformance
def test_raw_output_matches_reference(ref):
    expected = ref.load('raw_output.npy')
    assert max_rel(ref.raw[0, 0].numpy(), expected) <= 1e-4
    with torch.no_grad():  # the plain tensor-mode call gives the same output
        if ref.tokens is None:
            assert torch.equal(ref.model(ref.x, mode='tensor'), ref.raw)


def test_intermediates_match_reference(ref):
    inter = ref.inter
    beit = ref.tokens is not None
    steps = (4, 2, 2, 1) if beit else (1, 1, 1, 1)
    for j, (level, s) in enumerate(zip(ref.levels, steps)):
        assert max_rel(level[:, :, ::s, ::s].numpy(), inter[f'level{j}']) <= 1e-4, j
    assert max_rel(ref.prerelu.numpy(), inter['prerelu']) <= 1e-4
    s = 8 if beit else 2
    assert max_rel(ref.path1[:, :, ::s, ::s].numpy(), inter['path1_sub']) <= 1e-4
    if beit:
        for j, tokens in enumerate(ref.tokens):
            assert max_rel(tokens[:, 0].numpy(), inter[f'cls{j}']) <= 1e-4, j
            assert max_rel(tokens[:, 1::8].numpy(), inter[f'tokens{j}_sub8']) <= 1e-4, j


def test_inference_depth_matches_reference(ref):
    """No size argument: the estimator's own preprocessing and resize back."""
    import cv2

    bgr = cv2.imread(osp.join(ref.folder, 'input.png'), cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    x = ref.model.prepare_inputs(rgb)
    np.testing.assert_array_equal(x.numpy(), ref.x.numpy())  # the same cv2 calls
    out = inference_depth(ref.model, osp.join(ref.folder, 'input.png'))
    assert out.shape == (480, 600) and out.dtype == np.float32
    assert max_rel(out, ref.load('output.npy')) <= 1e-4


def test_random_square_tensor(ref):
    """A random square input: the right size, finite and non-negative; a batch of
    two gives each image's own output (BEiT at 256x256 resizes every table).
    """
    torch.manual_seed(0)
    size = 256
    x = torch.randn(2, 3, size, size).clamp(-1, 1)
    with torch.no_grad():
        both = ref.model(x, mode='tensor')
        second = ref.model(x[1:], mode='tensor')
    assert both.shape == (2, 1, size, size)
    assert torch.isfinite(both).all() and both.min() >= 0 and both.std() > 0
    torch.testing.assert_close(both[1:], second, rtol=1e-4, atol=1e-4 * both.abs().max())


def test_loads_with_structural_buffers_too(tmp_path):
    """An official file that carries relative_position_index / attn_mask loads to
    the same model (the buffers are rebuilt, not read). Checked on Swin2 (small).
    """
    name = 'midas_dpt_swin2_tiny_256'
    require_fixture(name)
    from tests.test_models.test_estimators.midas_weights import build_state_dict

    state = build_state_dict(require_fixture(name))
    config = osp.join(REPO_ROOT, 'configs', '_base_', 'models', f'{name}.py')
    model = init_model(config)
    state.update({k: v for k, v in model.structural_buffers().items()})
    assert any(k.endswith('attn_mask') for k in state)
    assert load_depth_checkpoint(model, state) == 'midas'
    x = torch.from_numpy(np.load(osp.join(require_fixture(name), 'input_tensor.npy')))
    with torch.no_grad():
        out = model(x)[0, 0].numpy()
    assert max_rel(out, np.load(osp.join(require_fixture(name), 'raw_output.npy'))) <= 1e-4


# ---------------------------------------------------------------- tiny models
@pytest.mark.parametrize('cfg', [TINY_BEIT, TINY_SWIN2], ids=['beit', 'swin2'])
def test_tiny_shapes_features_predict(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        disp = model(x, mode='tensor')
        disp2, feat = model.forward_with_features(x)
        tokens = model.backbone(x)[-1][0]
        samples = model(x, mode='predict')
    assert disp.shape == (2, 1, 64, 64) and disp.min() >= 0
    assert torch.equal(disp, disp2)
    stride = model.backbone.patch_size
    assert feat.shape[-2:] == (64 // stride, 64 // stride)
    assert torch.equal(tokens.transpose(1, 2).reshape(feat.shape), feat)
    assert samples[1].pred_depth.data.shape == (1, 64, 64)
    with pytest.raises(RuntimeError, match='CrossContextDistiller'):
        model(x, mode='loss')


def test_tiny_beit_accepts_any_multiple_of_16():
    torch.manual_seed(0)
    model = MODELS.build(TINY_BEIT).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 48, 80))
    assert out.shape == (1, 1, 48, 80)
    with pytest.raises(ValueError, match='multiple of 16'):
        model(torch.randn(1, 3, 50, 64))


def test_tiny_swin2_rejects_other_sizes():
    model = MODELS.build(TINY_SWIN2).eval()
    with pytest.raises(ValueError, match='64x64 only'):
        model(torch.randn(1, 3, 64, 96))


def test_wrong_checkpoint_is_explained(tmp_path):
    beit = MODELS.build(TINY_BEIT)
    swin = MODELS.build(TINY_SWIN2)
    with pytest.raises(CheckpointError, match='does not fit the MiDaS model'):
        load_depth_checkpoint(beit, swin.state_dict())
    with pytest.raises(CheckpointError, match='not a MiDaS checkpoint'):
        load_depth_checkpoint(beit, {'pretrained.blocks.0.x': torch.zeros(1)})


def test_encoder_scope_keeps_the_fresh_decoder():
    torch.manual_seed(0)
    src = MODELS.build(TINY_BEIT)
    torch.manual_seed(1)
    dst = MODELS.build(TINY_BEIT)
    decoder_before = {k: v.clone() for k, v in dst.scratch.state_dict().items()}
    load_depth_checkpoint(
        dst, {'student.' + k: v for k, v in src.state_dict().items()}, scope='encoder'
    )
    for k, v in dst.pretrained.state_dict().items():
        assert torch.equal(v, src.pretrained.state_dict()[k]), k
    for k, v in dst.scratch.state_dict().items():
        assert torch.equal(v, decoder_before[k]), k
