import json
import math

import pytest
import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed

from mmdistilldepth.models.backbones import (
    DINOv2ViT,
    SwiGLUFFN,
    interpolate_pos_embed_dav2,
    resolve_arch,
)
from tests.conftest import require_fixture

TINY = dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3))


def test_pos_embed_unchanged_only_for_square_pretraining_grid():
    pos = torch.randn(1, 1 + 37 * 37, 8)
    assert interpolate_pos_embed_dav2(pos, 518, 518) is pos
    # 37x37 patches are not enough: the official code also needs H == W.
    out = interpolate_pos_embed_dav2(pos, 518, 532)
    assert out.shape == (1, 1 + 37 * 38, 8)


def test_pos_embed_follows_the_dav2_formula():
    torch.manual_seed(0)
    pos = torch.randn(1, 1 + 37 * 37, 8)
    out = interpolate_pos_embed_dav2(pos, 518, 686)
    grid = pos[:, 1:].reshape(1, 37, 37, 8).permute(0, 3, 1, 2)
    expected = F.interpolate(
        grid,
        scale_factor=((37 + 0.1) / 37, (49 + 0.1) / 37),
        mode='bicubic',
        antialias=False,
        align_corners=False,
    )
    expected = expected.permute(0, 2, 3, 1).reshape(1, 37 * 49, 8)
    assert torch.equal(out[:, :1], pos[:, :1])
    assert torch.equal(out[:, 1:], expected)
    # timm's own resize (size-based, antialiased) is a different function.
    timm_out = resample_abs_pos_embed(
        pos, new_size=(37, 49), old_size=(37, 37), num_prefix_tokens=1, verbose=False
    )
    assert (timm_out - out).abs().max() > 1e-3


def test_pos_embed_downsampling_uses_the_offset():
    pos = torch.randn(1, 1 + 37 * 37, 4)
    out = interpolate_pos_embed_dav2(pos, 70, 98)  # 5 x 7 patches
    grid = pos[:, 1:].reshape(1, 37, 37, 4).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, scale_factor=(5.1 / 37, 7.1 / 37), mode='bicubic')
    assert torch.equal(out[:, 1:], expected.permute(0, 2, 3, 1).reshape(1, 35, 4))


def test_intermediate_layers_shapes_order_and_norm():
    torch.manual_seed(0)
    vit = DINOv2ViT(dict(TINY, layer_idx=(3, 1, 1, 0))).eval()
    x = torch.randn(2, 3, 42, 56)
    feats = vit(x)
    assert [f[0].shape for f in feats] == [torch.Size([2, 12, 48])] * 4
    assert [f[1].shape for f in feats] == [torch.Size([2, 48])] * 4
    assert torch.equal(feats[1][0], feats[2][0])
    # Manual pass: LayerNorm applied to the selected block's output.
    tokens = vit.prepare_tokens(x)
    for block in vit.blocks[:2]:
        tokens = block(tokens)
    normed = vit.norm(tokens)
    torch.testing.assert_close(feats[1][0], normed[:, 1:])
    torch.testing.assert_close(feats[1][1], normed[:, 0])


def test_fused_and_plain_attention_agree_and_switch_paths(monkeypatch):
    torch.manual_seed(0)
    vit = DINOv2ViT(TINY).eval()
    x = torch.randn(1, 3, 56, 42)
    calls = []
    sdpa = F.scaled_dot_product_attention

    def counting_sdpa(*args, **kwargs):
        calls.append(1)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', counting_sdpa)
    fused = vit(x)
    assert vit.fused_attn and len(calls) == 4
    vit.set_fused_attn(False)
    plain = vit(x)
    assert not vit.fused_attn and len(calls) == 4
    for (a, _), (b, _) in zip(fused, plain):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_rejects_inputs_that_are_not_multiples_of_14():
    with pytest.raises(ValueError, match='multiple of the patch size'):
        DINOv2ViT(TINY)(torch.randn(1, 3, 50, 56))


def test_official_vits_keys_and_shapes():
    keys = json.load(open(require_fixture('dav2_vits', 'keys.json')))
    official = {
        k[len('pretrained.') :]: tuple(v) for k, v in keys.items() if k.startswith('pretrained.')
    }
    ours = {k: tuple(v.shape) for k, v in DINOv2ViT('vits').state_dict().items()}
    assert ours == official


def test_giant_uses_dinov2_swiglu_names_and_widths():
    with torch.device('meta'):
        vit = DINOv2ViT('vit_giant_patch14_dinov2')
    assert len(vit.blocks) == 40 and vit.out_indices == (9, 19, 29, 39)
    mlp = vit.blocks[0].mlp
    assert isinstance(mlp, SwiGLUFFN)
    assert mlp.w12.weight.shape == (8192, 1536) and mlp.w3.weight.shape == (1536, 4096)


def test_swiglu_formula():
    torch.manual_seed(0)
    mlp = SwiGLUFFN(8, 16)  # hidden (int(16 * 2 / 3) + 7) // 8 * 8 = 16
    x = torch.randn(3, 8)
    x1, x2 = mlp.w12(x).chunk(2, dim=-1)
    torch.testing.assert_close(mlp(x), mlp.w3(F.silu(x1) * x2))
    assert mlp.w3.in_features == 16


def test_custom_arch_defaults_and_errors():
    arch = resolve_arch(dict(embed_dim=32, depth=6, num_heads=2))
    assert arch['layer_idx'] == (1, 2, 4, 5)
    with pytest.raises(KeyError, match='unknown DINOv2 encoder'):
        resolve_arch('vith')
    with pytest.raises(ValueError, match='layer_idx'):
        resolve_arch(dict(embed_dim=32, depth=2, num_heads=2, layer_idx=(0, 1, 2, 3)))


def test_late_init_weights_keeps_weights():
    vit = DINOv2ViT(TINY)
    before = {k: v.clone() for k, v in vit.state_dict().items()}
    vit.init_weights()
    assert all(torch.equal(before[k], v) for k, v in vit.state_dict().items())


def test_gradient_checkpointing_gives_same_grads():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 28, 28)
    grads = []
    for with_cp in (False, True):
        torch.manual_seed(1)
        vit = DINOv2ViT(TINY, with_cp=with_cp).train()
        sum(f.sum() for f, _ in vit(x)).backward()
        grads.append(vit.blocks[0].attn.qkv.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])
    assert math.isfinite(grads[0].abs().sum().item())


@pytest.mark.parametrize('hw', [(518, 686), (70, 98), (1036, 518), (518, 518), (42, 42)])
def test_traceable_pos_embed_matches_the_reference(hw):
    from mmdistilldepth.models.backbones import interpolate_pos_embed_traceable

    torch.manual_seed(0)
    pos = torch.randn(1, 1 + 37 * 37, 8)
    reference = interpolate_pos_embed_dav2(pos, *hw)
    traced = interpolate_pos_embed_traceable(pos, *hw)
    assert traced.shape == reference.shape
    tolerance = 0.0 if hw == (518, 518) else 1e-4
    assert (traced - reference).abs().max() <= tolerance
