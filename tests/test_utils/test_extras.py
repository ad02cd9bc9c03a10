"""Optional dependencies fail with one line naming the pip extra."""

import os
import os.path as osp
import sys

import pytest

from mmdistilldepth.utils.extras import MissingExtraError, is_available, require

MARIGOLD_FILES = (
    'model_index.json',
    'scheduler/scheduler_config.json',
    'unet/config.json',
    'unet/diffusion_pytorch_model.safetensors',
    'vae/config.json',
    'vae/diffusion_pytorch_model.safetensors',
)


def test_require_returns_the_module_or_names_the_extra(monkeypatch):
    assert require('json', 'a test').dumps([1]) == '[1]'
    monkeypatch.setitem(sys.modules, 'diffusers', None)  # as if not installed
    assert not is_available('diffusers')
    with pytest.raises(MissingExtraError) as info:
        require('diffusers', 'GenPerceptTeacher')
    message = str(info.value)
    assert message == (
        'GenPerceptTeacher needs diffusers (not installed): pip install "mmdistilldepth[diffusion]"'
    )
    assert isinstance(info.value, ImportError) and '\n' not in message
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    with pytest.raises(MissingExtraError, match=r'mmdistilldepth\[export\]'):
        require('onnxruntime', 'the ONNX check')


def test_a_broken_install_is_not_reported_as_missing(monkeypatch, tmp_path):
    (tmp_path / 'brokenpkg_h5').mkdir()
    (tmp_path / 'brokenpkg_h5' / '__init__.py').write_text('import no_such_module_h5\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match='no_such_module_h5'):
        require('brokenpkg_h5', 'a test')


@pytest.mark.parametrize('blocked', ['diffusers', 'transformers'])
def test_marigold_without_the_diffusion_extra(tmp_path, monkeypatch, blocked):
    from mmdistilldepth.models.teachers import MarigoldTeacher

    for name in MARIGOLD_FILES:
        path = tmp_path / name
        os.makedirs(osp.dirname(path), exist_ok=True)
        path.write_text('{}')
    monkeypatch.setitem(sys.modules, blocked, None)
    with pytest.raises(ImportError, match=r'pip install "mmdistilldepth\[diffusion\]"') as info:
        MarigoldTeacher(str(tmp_path))
    assert 'MarigoldTeacher' in str(info.value) and blocked in str(info.value)
    assert '\n' not in str(info.value)
