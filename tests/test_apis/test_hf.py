"""Hugging Face in and out: --to hf folders in transformers, init_model(FOLDER_OR_HUB_ID)."""

import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch

from mmdistilldepth.apis import init_model
from mmdistilldepth.models.hf_layout import dav2_to_hf, hf_to_dav2
from tests.conftest import load_tool, require_fixture

REPO = 'depth-anything/Depth-Anything-V2-Small-hf'
ORIGINAL = 'depth-anything/Depth-Anything-V2-Small'


@pytest.fixture(scope='module')
def fixture_dir():
    return osp.dirname(require_fixture('dav2_vits', 'weights_fp16.safetensors'))


@pytest.fixture(scope='module')
def hf_folder(fixture_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('hf') / 'dav2_vits_hf')
    tool = load_tool('model_converters', 'convert_checkpoint.py')
    assert tool.main([osp.join(fixture_dir, 'weights_fp16.safetensors'), out, '--to', 'hf']) == 0
    return out


def _official(fixture_dir):
    x = torch.from_numpy(np.load(osp.join(fixture_dir, 'input_tensor.npy')))
    return x, np.load(osp.join(fixture_dir, 'raw_output.npy'))


def test_key_maps_are_inverse(fixture_dir):
    from safetensors.torch import load_file

    state = load_file(osp.join(fixture_dir, 'weights_fp16.safetensors'))
    hf = dav2_to_hf(state)
    assert len(hf) == len(state) + 12 * 2 * 2  # qkv weight, bias -> query, key, value
    back = hf_to_dav2(hf)
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
    # transformers 5 spellings read the same
    v5 = {
        k.replace('.attention.attention.query.', '.attention.q_proj.')
        .replace('.attention.attention.key.', '.attention.k_proj.')
        .replace('.attention.attention.value.', '.attention.v_proj.')
        .replace('.attention.output.dense.', '.attention.o_proj.'): v
        for k, v in hf.items()
    }
    assert all(torch.equal(hf_to_dav2(v5)[k], state[k]) for k in state)


def test_transformers_runs_the_converted_folder(fixture_dir, hf_folder):
    transformers = pytest.importorskip('transformers')
    with open(osp.join(hf_folder, 'config.json')) as f:
        config = json.load(f)
    assert config['backbone_config']['out_indices'] == [3, 6, 9, 12]
    assert config['depth_estimation_type'] == 'relative'
    model, info = transformers.DepthAnythingForDepthEstimation.from_pretrained(
        hf_folder, output_loading_info=True, dtype=torch.float32
    )
    assert not any(info[k] for k in ('missing_keys', 'unexpected_keys', 'mismatched_keys'))
    ours = init_model(hf_folder)
    x, raw = _official(fixture_dir)
    with torch.no_grad():
        square = x[..., :, 84:602].contiguous()  # 518 x 518
        theirs_sq = model.eval()(pixel_values=square).predicted_depth
        ours_sq = ours(square)[:, 0]
        assert (theirs_sq - ours_sq).abs().max() <= 1e-5 * ours_sq.abs().max()
        # other sizes: transformers resizes the positional embedding to the grid,
        # the official code by a scale factor with a 0.1 offset (docs/models.md)
        theirs = model(pixel_values=x).predicted_depth[0].numpy()
    gap = np.abs(theirs - raw).max() / raw.max()
    assert 1e-4 < gap <= 5e-3, gap
    assert os.stat(osp.join(hf_folder, 'model.safetensors')).st_mode & 0o044  # readable


def test_init_model_from_folder_matches_official(fixture_dir, hf_folder):
    model = init_model(hf_folder)
    assert model.cfg.model.encoder == 'vits' and model.cfg.model.features == 64
    x, raw = _official(fixture_dir)
    with torch.no_grad():
        out = model(x)[0, 0].numpy()
    assert np.abs(out - raw).max() <= 1e-5 * raw.max()


def _cache(tmp_path, repo, files):
    """An offline hub cache in huggingface_hub's layout with ``files`` {name: source}."""
    root = tmp_path / 'hub'
    repo_dir = root / ('models--' + repo.replace('/', '--'))
    revision = '0123456789abcdef0123456789abcdef01234567'
    snapshot = repo_dir / 'snapshots' / revision
    for name, source in files.items():
        os.makedirs(osp.dirname(snapshot / name), exist_ok=True)
        shutil.copyfile(source, snapshot / name)
    os.makedirs(repo_dir / 'refs', exist_ok=True)
    (repo_dir / 'refs' / 'main').write_text(revision)
    return str(root)


@pytest.fixture
def offline(monkeypatch):
    pytest.importorskip('huggingface_hub')
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)

    def use(cache):
        monkeypatch.setenv('HF_HUB_CACHE', cache)
        monkeypatch.setattr(constants, 'HF_HUB_CACHE', cache)
        import huggingface_hub.file_download as fd

        if hasattr(fd, 'HF_HUB_CACHE'):
            monkeypatch.setattr(fd, 'HF_HUB_CACHE', cache)

    return use


@pytest.mark.parametrize('spec', [REPO, 'hf://' + REPO])
def test_init_model_from_hub_id_offline(fixture_dir, hf_folder, tmp_path, offline, spec):
    offline(
        _cache(
            tmp_path,
            REPO,
            {n: osp.join(hf_folder, n) for n in ('config.json', 'model.safetensors')},
        )
    )
    model = init_model(spec)
    x, raw = _official(fixture_dir)
    with torch.no_grad():
        out = model(x)[0, 0].numpy()
    assert np.abs(out - raw).max() <= 1e-5 * raw.max()
    assert model.cfg.pretrained == 'hf://' + REPO


def test_original_file_repo_and_config_field(fixture_dir, tmp_path, offline):
    from mmdistilldepth.models import DepthAnythingV2

    offline(
        _cache(
            tmp_path,
            ORIGINAL,
            {'depth_anything_v2_vits.pth': osp.join(fixture_dir, 'weights_fp16.safetensors')},
        )
    )
    # a .pth holding safetensors bytes would not load: write a real torch file
    from safetensors.torch import load_file

    snapshot = next((tmp_path / 'hub').glob('models--*/snapshots/*'))
    torch.save(
        load_file(osp.join(fixture_dir, 'weights_fp16.safetensors')),
        snapshot / 'depth_anything_v2_vits.pth',
    )
    x, raw = _official(fixture_dir)
    for model in (
        init_model('hf://' + ORIGINAL),
        DepthAnythingV2('vits', checkpoint='hf://' + ORIGINAL).eval(),
    ):
        with torch.no_grad():
            out = model(x)[0, 0].numpy()
        assert np.abs(out - raw).max() <= 1e-5 * raw.max()


def test_hub_errors_say_what_to_do(tmp_path, offline):
    from mmdistilldepth.models.checkpoint_loading import CheckpointError, read_checkpoint

    offline(str(tmp_path / 'empty'))
    with pytest.raises(CheckpointError, match='hub cache.*huggingface-cli download'):
        read_checkpoint('hf://' + REPO)
    with pytest.raises(CheckpointError, match='hf://xingyang1/Distill-Any-Depth/large'):
        read_checkpoint('hf://xingyang1/Distill-Any-Depth')
    with pytest.raises(ValueError, match='either a config and a checkpoint'):
        init_model(REPO, checkpoint='x.pth')


def _export_training_checkpoint(tmp_path, cfg, net, extra=None):
    """Save ``net`` as a training checkpoint of ``cfg`` and convert it --to hf.

    Returns:
        tuple: (checkpoint path, folder, the folder loaded by transformers, float32).
    """
    transformers = pytest.importorskip('transformers')
    state = {'student.' + k: v for k, v in net.state_dict().items()}
    state.update(extra or {})
    src = str(tmp_path / 'iter_6.pth')
    torch.save(dict(state_dict=state, meta=dict(cfg=cfg.pretty_text)), src)
    out = str(tmp_path / 'student_hf')
    tool = load_tool('model_converters', 'convert_checkpoint.py')
    assert tool.main([src, out, '--to', 'hf']) == 0
    model = transformers.DepthAnythingForDepthEstimation.from_pretrained(
        out, dtype=torch.float32
    ).eval()
    return src, out, model


def test_trained_student_exports_to_hf(tmp_path):
    """A distiller checkpoint (student.* keys, the config in meta) -> transformers."""
    from mmengine.config import Config

    from mmdistilldepth.registry import MODELS
    from mmdistilldepth.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile('configs/quickstart/cross_context_synthetic.py')
    student = MODELS.build(cfg.model.student).eval()
    extra = {'teacher_dummy.weight': torch.zeros(1)}
    _, out, model = _export_training_checkpoint(tmp_path, cfg, student, extra)
    x = torch.randn(1, 3, 518, 518)
    with torch.no_grad():
        expected = student(x)[:, 0]
        assert (
            model(pixel_values=x).predicted_depth - expected
        ).abs().max() <= 1e-5 * expected.abs().max()
        assert torch.allclose(init_model(out)(x)[:, 0], expected, atol=1e-6)


def test_metric_finetune_checkpoint_exports_and_loads(tmp_path):
    """A metric fine-tuning checkpoint (SupervisedDepthEstimator, max_depth in its config).

    It exports as a transformers 'metric' folder; both load back as a metric
    DepthAnythingV2.
    """
    from mmengine.config import Config

    from mmdistilldepth.registry import MODELS
    from mmdistilldepth.utils import register_all_modules

    register_all_modules()
    student = dict(
        type='DepthAnythingV2',
        encoder=dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3)),
        features=16,
        out_channels=[8, 16, 24, 48],
        max_depth=20.0,
    )
    cfg = Config(dict(model=dict(type='SupervisedDepthEstimator', student=student)))
    torch.manual_seed(0)
    net = MODELS.build(student).eval()
    src, out, model = _export_training_checkpoint(tmp_path, cfg, net)
    with open(osp.join(out, 'config.json')) as f:
        config = json.load(f)
    assert config['depth_estimation_type'] == 'metric' and config['max_depth'] == 20
    x = torch.randn(1, 3, 518, 518)
    with torch.no_grad():
        expected = net(x)[:, 0]
        assert 0 < expected.min() and expected.max() < 20.0
        assert (model(pixel_values=x).predicted_depth - expected).abs().max() <= 1e-4
        for spec in (out, src):  # the folder, and the checkpoint file with its meta
            loaded = init_model(spec)
            assert loaded.pred_space == 'depth' and loaded.max_depth == 20.0
            assert torch.allclose(loaded(x)[:, 0], expected, atol=1e-5)
