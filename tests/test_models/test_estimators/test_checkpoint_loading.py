import collections
import re

import pytest
import torch
from safetensors.torch import save_file

from mmdistilldepth.models.checkpoint_loading import (
    CheckpointError,
    detect_layout,
    load_depth_checkpoint,
    to_dav2_layout,
)
from mmdistilldepth.models.estimators import DepthAnythingV2

ENCODER = dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3))


def _model(seed, **kwargs):
    torch.manual_seed(seed)
    return DepthAnythingV2(ENCODER, 16, [8, 16, 24, 48], **kwargs).eval()


def _dad_large_keys(state):
    """The Distill-Any-Depth Large layout: backbone.*, chunked blocks.0.<i>."""
    out = {}
    for key, value in state.items():
        if key.startswith('pretrained.'):
            key = 'backbone.' + re.sub(r'^blocks\.', 'blocks.0.', key[len('pretrained.') :])
        out[key] = value
    return out


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_official_pth(tmp_path):
    src, dst = _model(0), _model(1)
    torch.save(src.state_dict(), tmp_path / 'depth_anything_v2_tiny.pth')
    assert load_depth_checkpoint(dst, str(tmp_path / 'depth_anything_v2_tiny.pth')) == 'dav2'
    _assert_same_weights(src, dst)
    assert not dst.depth_head.final_relu_after_upsample


def test_distill_any_depth_small_safetensors_in_fp16(tmp_path):
    src, dst = _model(0), _model(1)
    half = {k: v.half().contiguous() for k, v in src.state_dict().items()}
    save_file(half, str(tmp_path / 'model.safetensors'))
    assert load_depth_checkpoint(dst, str(tmp_path / 'model.safetensors')) == 'dav2'
    for key, value in dst.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, half[key].float())


def test_distill_any_depth_large_layout_sets_the_head_option(tmp_path):
    src, dst = _model(0), _model(1)
    state = _dad_large_keys(src.state_dict())
    assert 'backbone.blocks.0.3.mlp.fc2.weight' in state
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / 'large.safetensors'))
    assert detect_layout(state) == 'dad_large'
    assert load_depth_checkpoint(dst, str(tmp_path / 'large.safetensors')) == 'dad_large'
    _assert_same_weights(src, dst)
    assert dst.depth_head.final_relu_after_upsample


def test_our_training_checkpoint_keeps_only_the_student(tmp_path):
    src, dst = _model(0), _model(1)
    state = collections.OrderedDict(('student.' + k, v) for k, v in src.state_dict().items())
    state['teacher.model.pretrained.cls_token'] = torch.zeros(1, 1, 1024)
    state['feat_encoder.cls_token'] = torch.zeros(1, 1, 48)
    torch.save(dict(state_dict=state, meta=dict(epoch=3, iter=100)), tmp_path / 'iter_100.pth')
    assert load_depth_checkpoint(dst, str(tmp_path / 'iter_100.pth')) == 'ours'
    _assert_same_weights(src, dst)


def test_constructor_checkpoint_argument(tmp_path):
    src = _model(0)
    torch.save(src.state_dict(), tmp_path / 'w.pth')
    _assert_same_weights(src, _model(1, checkpoint=str(tmp_path / 'w.pth')))


def test_missing_mask_token_is_tolerated():
    src, dst = _model(0), _model(1)
    state = {k: v for k, v in src.state_dict().items() if k != 'pretrained.mask_token'}
    load_depth_checkpoint(dst, state)
    assert torch.equal(
        dst.pretrained.patch_embed.proj.weight, src.pretrained.patch_embed.proj.weight
    )


def test_mismatch_names_keys_and_layout(tmp_path):
    src = _model(0)
    state = src.state_dict()
    state.pop('depth_head.scratch.output_conv1.bias')
    state['depth_head.extra.weight'] = torch.zeros(1)
    bigger = DepthAnythingV2(dict(ENCODER, embed_dim=64), 16, [8, 16, 24, 48])
    with pytest.raises(CheckpointError) as info:
        load_depth_checkpoint(_model(1), state)
    message = str(info.value)
    assert 'layout guessed: dav2' in message
    assert 'depth_head.scratch.output_conv1.bias' in message
    assert 'depth_head.extra.weight' in message
    with pytest.raises(CheckpointError, match=r'embed_dim 48.*embed_dim 64'):
        load_depth_checkpoint(bigger, src.state_dict())


def test_unknown_layout_and_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match='cannot tell the checkpoint layout'):
        load_depth_checkpoint(_model(0), {'encoder.weight': torch.zeros(1)})
    with pytest.raises(CheckpointError, match='does not exist'):
        load_depth_checkpoint(_model(0), str(tmp_path / 'nope.pth'))


class _Payload:
    def __reduce__(self):
        return (print, ('this would have run',))


def test_refuses_arbitrary_pickles(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'pretrained.cls_token': torch.zeros(1), 'x': _Payload()}, path)
    with pytest.raises(CheckpointError, match='refusing to unpickle.*--unsafe-allow-pickle'):
        load_depth_checkpoint(_model(0), str(path))


def test_to_dav2_layout_strips_ddp_prefix():
    state = {'module.pretrained.cls_token': torch.zeros(1), 'module.depth_head.x': torch.zeros(1)}
    out, layout = to_dav2_layout(state)
    assert layout == 'dav2' and set(out) == {'pretrained.cls_token', 'depth_head.x'}
