import argparse
import re

import pytest
import torch
from safetensors.torch import load_file, save_file

from mmdistilldepth.models.estimators import DepthAnythingV2
from tests.conftest import load_tool

ENCODER = dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3))


def _tool():
    return load_tool('model_converters', 'convert_checkpoint.py')


@pytest.fixture(scope='module')
def tool():
    return _tool()


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return DepthAnythingV2(ENCODER, 16, [8, 16, 24, 48])


def _same(state, reference, prefix=''):
    assert set(state) == {prefix + k for k in reference}
    assert all(torch.equal(state[prefix + k], v) for k, v in reference.items())


def test_ours_to_official_pth_loads_in_plain_torch(tool, model, tmp_path):
    ours = {'student.' + k: v for k, v in model.state_dict().items()}
    ours['teacher.model.pretrained.cls_token'] = torch.zeros(1, 1, 8)
    torch.save({'state_dict': ours, 'meta': {'iter': 5}}, tmp_path / 'iter_5.pth')
    assert (
        tool.main([str(tmp_path / 'iter_5.pth'), str(tmp_path / 'dav2.pth'), '--to', 'dav2']) == 0
    )
    exported = torch.load(tmp_path / 'dav2.pth', weights_only=True)
    _same(exported, model.state_dict())
    assert all(k.startswith(('pretrained.', 'depth_head.')) for k in exported)
    # What the official code does: a bare load_state_dict(strict=True).
    fresh = DepthAnythingV2(ENCODER, 16, [8, 16, 24, 48])
    fresh.load_state_dict(exported, strict=True)


def test_official_to_ours_and_back_with_safetensors(tool, model, tmp_path):
    half = {k: v.half() for k, v in model.state_dict().items()}
    save_file({k: v.contiguous() for k, v in half.items()}, str(tmp_path / 'model.safetensors'))
    tool.main([str(tmp_path / 'model.safetensors'), str(tmp_path / 'ours.pth'), '--to', 'ours'])
    ours = torch.load(tmp_path / 'ours.pth', weights_only=True)
    assert ours['meta']['converted_from'] == 'dav2'
    _same(ours['state_dict'], half, prefix='student.')
    tool.main([str(tmp_path / 'ours.pth'), str(tmp_path / 'back.safetensors'), '--to', 'dav2'])
    _same(load_file(str(tmp_path / 'back.safetensors')), half)


def test_distill_any_depth_large_to_official(tool, model, tmp_path, capsys):
    large = {}
    for key, value in model.state_dict().items():
        if key.startswith('pretrained.'):
            key = 'backbone.' + re.sub(r'^blocks\.', 'blocks.0.', key[len('pretrained.') :])
        large[key] = value.contiguous()
    save_file(large, str(tmp_path / 'large.safetensors'))
    tool.main([str(tmp_path / 'large.safetensors'), str(tmp_path / 'out.pth'), '--to', 'dav2'])
    _same(torch.load(tmp_path / 'out.pth', weights_only=True), model.state_dict())
    assert 'final ReLU' in capsys.readouterr().out


def test_untrusted_pickles_need_the_explicit_flag(tool, model, tmp_path):
    state = dict(model.state_dict())
    torch.save({'state_dict': state, 'args': argparse.Namespace(lr=1)}, tmp_path / 'old.pth')
    with pytest.raises(SystemExit) as info:
        tool.main([str(tmp_path / 'old.pth'), str(tmp_path / 'x.pth'), '--to', 'dav2'])
    assert info.value.code == 2
    tool.main(
        [
            str(tmp_path / 'old.pth'),
            str(tmp_path / 'x.pth'),
            '--to',
            'dav2',
            '--unsafe-allow-pickle',
        ]
    )
    _same(torch.load(tmp_path / 'x.pth', weights_only=True), state)


def test_missing_input_is_one_line(tool, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        tool.main([str(tmp_path / 'none.pth'), str(tmp_path / 'x.pth'), '--to', 'dav2'])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1 and 'none.pth' in err
