import json

import torch
import torch.nn.functional as F

from mmdistilldepth.models.heads import DPTHead
from tests.conftest import require_fixture


def _features(batch=2, patch_h=3, patch_w=4, dim=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(batch, patch_h * patch_w, dim, generator=g),
            torch.randn(batch, dim, generator=g),
        )
        for _ in range(4)
    ]


def test_official_vits_head_keys_and_shapes():
    keys = json.load(open(require_fixture('dav2_vits', 'keys.json')))
    official = {
        k[len('depth_head.') :]: tuple(v) for k, v in keys.items() if k.startswith('depth_head.')
    }
    head = DPTHead(384, 64, [48, 96, 192, 384])
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == official


def _center_output(head, feats):
    """Shift the last bias so that about half of the outputs are negative before ReLU."""
    head.scratch.output_conv2[2].bias -= _pre_relu(head, feats).median()


def test_output_shape_and_relu():
    torch.manual_seed(0)
    head = DPTHead(32, 16, [8, 16, 24, 32])
    with torch.no_grad():
        _center_output(head, _features())
        out = head(_features(), 3, 4)
    assert out.shape == (2, 1, 42, 56)
    assert out.min() == 0 and out.max() > 0


def test_levels_are_resized_by_4_2_1_half():
    head = DPTHead(32, 16, [8, 16, 24, 32])
    x = torch.randn(1, 32, 6, 8)
    sizes = [head.resize_layers[i](head.projects[i](x)).shape[-2:] for i in range(4)]
    assert sizes == [(24, 32), (12, 16), (6, 8), (3, 4)]


def test_clstoken_readout():
    torch.manual_seed(0)
    head = DPTHead(32, 16, [8, 16, 24, 32], use_clstoken=True)
    assert head.readout_projects[0][0].weight.shape == (32, 64)
    feats = _features()
    moved = [(t, c + 1.0) for t, c in feats]
    with torch.no_grad():
        assert not torch.equal(head(feats, 3, 4), head(moved, 3, 4))


def test_final_relu_after_upsample_variant():
    torch.manual_seed(0)
    head = DPTHead(32, 16, [8, 16, 24, 32])
    feats = _features()
    with torch.no_grad():
        _center_output(head, feats)
        standard = head(feats, 3, 4)
        head.final_relu_after_upsample = True
        # Same keys, and the same numbers at 14 * patches ...
        assert torch.equal(head(feats, 3, 4, out_size=(42, 56)), standard)
        # ... but at another input size the ReLU comes after the resize.
        out = head(feats, 3, 4, out_size=(45, 60))
        expected = F.relu(
            F.interpolate(_pre_relu(head, feats), (45, 60), mode='bilinear', align_corners=True)
        )
    assert out.shape == (2, 1, 45, 60)
    torch.testing.assert_close(out, expected)
    relu_first = F.interpolate(standard, (45, 60), mode='bilinear', align_corners=True)
    assert (relu_first - out).abs().max() > 1e-4


def _path(head, feats):
    """The fused path before output_conv1, recomputed from the head's modules."""
    levels = []
    for i, (tokens, _) in enumerate(feats):
        x = tokens.permute(0, 2, 1).reshape(tokens.shape[0], -1, 3, 4)
        levels.append(head.resize_layers[i](head.projects[i](x)))
    s = head.scratch
    l1, l2, l3, l4 = (getattr(s, f'layer{i + 1}_rn')(x) for i, x in enumerate(levels))
    path = s.refinenet4(l4, size=l3.shape[2:])
    path = s.refinenet3(path, l3, size=l2.shape[2:])
    path = s.refinenet2(path, l2, size=l1.shape[2:])
    return s.refinenet1(path, l1)


def _pre_relu(head, feats):
    s = head.scratch
    return s.output_conv2[:3](
        F.interpolate(
            s.output_conv1(_path(head, feats)), (42, 56), mode='bilinear', align_corners=True
        )
    )
