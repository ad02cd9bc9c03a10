"""``convert_checkpoint.py --to midas``: our MiDaS <-> the official layout."""

import hashlib

import pytest
import torch

from mmdistilldepth.models.checkpoint_loading import load_depth_checkpoint
from mmdistilldepth.registry import MODELS
from tests.conftest import load_tool, require_fixture
from tests.test_models.test_estimators.midas_weights import build_state_dict, read_keys
from tests.test_models.test_estimators.test_midas import TINY_BEIT, TINY_SWIN2


@pytest.fixture(scope='module')
def tool():
    return load_tool('model_converters', 'convert_checkpoint.py')


def _write_config(path, cfg):
    path.write_text(f'model = {cfg!r}\n')
    return str(path)


@pytest.mark.parametrize('cfg', [TINY_BEIT, TINY_SWIN2], ids=['beit', 'swin2'])
def test_round_trip_ours_midas_ours(tool, tmp_path, cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    reference = model.state_dict()
    ours = {'student.' + k: v for k, v in reference.items()}
    ours['teacher.model.x'] = torch.zeros(1)  # other distiller keys are dropped
    torch.save({'state_dict': ours, 'meta': {'iter': 3}}, tmp_path / 'iter_3.pth')
    config = _write_config(tmp_path / 'cfg.py', cfg)
    assert (
        tool.main(
            [
                str(tmp_path / 'iter_3.pth'),
                str(tmp_path / 'official.pt'),
                '--to',
                'midas',
                '--config',
                config,
            ]
        )
        == 0
    )
    official = torch.load(tmp_path / 'official.pt', weights_only=True)
    structural = [k for k in official if k.endswith(('relative_position_index', 'attn_mask'))]
    assert structural, 'the official layout carries the structural buffers'
    if cfg is TINY_SWIN2:  # timm 0.6.12 layout: merging at the end of stages 0..2
        assert 'pretrained.model.layers.0.downsample.reduction.weight' in official
        assert not any(k.startswith('pretrained.model.layers.3.downsample') for k in official)
        assert 'pretrained.model.head.weight' in official
    fresh = MODELS.build(cfg)
    assert load_depth_checkpoint(fresh, str(tmp_path / 'official.pt')) == 'midas'
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, reference[k]), k
    assert (
        tool.main([str(tmp_path / 'official.pt'), str(tmp_path / 'back.pth'), '--to', 'ours']) == 0
    )
    back = torch.load(tmp_path / 'back.pth', weights_only=True)['state_dict']
    assert set(back) == {'student.' + k for k in reference}
    assert all(torch.equal(back['student.' + k], v) for k, v in reference.items())


def test_swin2_release_to_official_layout_matches_keys_json(tool, tmp_path):
    """The rebuilt Swin2 fixture (no buffers) -> --to midas (architecture guessed)
    gives keys.json's exact key set, shapes and structural buffers.
    """
    folder = require_fixture('midas_dpt_swin2_tiny_256')
    state = build_state_dict(folder)
    torch.save(state, tmp_path / 'in.pt')
    # Through our layout first, so the converter has to map the names back.
    model = MODELS.build(dict(type='MiDaS', model_type='dpt_swin2_tiny_256'))
    load_depth_checkpoint(model, str(tmp_path / 'in.pt'))
    torch.save(
        {'state_dict': {'student.' + k: v for k, v in model.state_dict().items()}},
        tmp_path / 'ours.pth',
    )
    assert tool.main([str(tmp_path / 'ours.pth'), str(tmp_path / 'out.pt'), '--to', 'midas']) == 0
    out = torch.load(tmp_path / 'out.pt', weights_only=True)
    entries = read_keys(folder)
    assert set(out) == {e['key'] for e in entries}
    for e in entries:
        if e['init'] == 'constructor':
            assert (
                hashlib.sha256(out[e['key']].numpy().tobytes()).hexdigest()
                == e['sha256_of_float32_bytes']
            ), e['key']
        else:
            assert torch.equal(out[e['key']], state[e['key']]), e['key']


def test_unknown_architecture_asks_for_config(tool, tmp_path, capsys):
    torch.manual_seed(0)
    torch.save(MODELS.build(TINY_BEIT).state_dict(), tmp_path / 'tiny.pt')
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / 'tiny.pt'), str(tmp_path / 'o.pt'), '--to', 'midas'])
    assert '--config' in capsys.readouterr().err


def test_dav2_file_to_midas_is_refused(tool, tmp_path, capsys):
    torch.save(
        {
            'pretrained.cls_token': torch.zeros(1, 1, 8),
            'depth_head.projects.0.weight': torch.zeros(1),
        },
        tmp_path / 'd.pth',
    )
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / 'd.pth'), str(tmp_path / 'o.pt'), '--to', 'midas'])
    assert 'not a MiDaS checkpoint' in capsys.readouterr().err
