"""How the package declares its dependencies (setup.py, requirements/, constraints)."""

import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from mmdistilldepth.version import SUPPORTED_VERSIONS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
REQ = osp.join(REPO, 'requirements')
# never pinned exactly in the package's metadata (the list)
CORE = ('torch', 'torchvision', 'timm', 'mmengine', 'mmcv-lite')


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, '-c', code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, 'PYTHONPATH': REPO, **env},
    )


@pytest.fixture(scope='module')
def metadata(tmp_path_factory):
    """requires.txt as setup.py writes it: {extra or '': [Requirement]}."""
    out = tmp_path_factory.mktemp('egg')
    proc = subprocess.run(
        [sys.executable, 'setup.py', '-q', 'egg_info', '-e', str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    section, found = '', {'': []}
    with open(osp.join(out, 'mmdistilldepth.egg-info', 'requires.txt')) as f:
        for line in f.read().splitlines():
            if line.startswith('['):
                section = line.strip('[]')
                found[section] = []
            elif line.strip():
                found[section].append(Requirement(line))
    return found


def _names(reqs):
    return {r.name.lower().replace('_', '-') for r in reqs}


def test_metadata_has_ranges_not_pins(metadata):
    for extra, reqs in metadata.items():
        for req in reqs:
            assert not any(s.operator in ('==', '===') for s in req.specifier), (
                f'{req} in [{extra or "install_requires"}] is an exact pin'
            )
    runtime = _names(metadata[''])
    assert set(CORE) <= runtime
    assert 'diffusers' not in runtime and 'transformers' not in runtime
    assert 'diffusers' in _names(metadata['diffusion'])
    assert {'transformers', 'huggingface-hub'} <= _names(metadata['hf'])
    assert {'onnx', 'onnxruntime'} <= _names(metadata['export'])
    # the test extra holds every optional part, so that no test skips in CI
    tests = _names(metadata['tests'])
    for extra in ('diffusion', 'hf', 'export'):
        assert _names(metadata[extra]) <= tests, extra
    assert {'pytest', 'h5py', 'scipy'} <= tests


def test_constraints_pin_what_ci_tests_inside_the_ranges(metadata):
    pins = {}
    with open(osp.join(REQ, 'constraints.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                name, version = line.split('==')
                pins[name.lower().replace('_', '-')] = Version(version)
    expected = {
        'torch': '2.14.1',
        'torchvision': '0.29.1',
        'timm': '1.0.31',
        'diffusers': '0.42.1',
        'transformers': '5.24.0',
        'mmengine': '0.10.7',
        'mmcv-lite': '2.2.0',
    }
    for name, version in expected.items():
        assert pins[name] == Version(version), name
    for reqs in metadata.values():
        for req in reqs:
            name = req.name.lower().replace('_', '-')
            assert name in pins, f'{name} is not pinned in requirements/constraints.txt'
            assert req.specifier.contains(pins[name]), f'{name}=={pins[name]} outside {req}'


def test_ci_installs_with_the_constraints_and_the_readme_commands():
    with open(osp.join(REPO, '.ci', 'run')) as f:
        ci = f.read()
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    assert 'export PIP_CONSTRAINT="$PWD/requirements/constraints.txt"' in ci
    assert ci.index('PIP_CONSTRAINT') < ci.index('pip install -e')
    for command in ('pip install -e ".[tests]" && python -m pytest', 'pip install -e . && '):
        assert command in readme and command in ci


def test_supported_versions_agree_with_runtime_requirements(metadata):
    runtime = {r.name: r for r in metadata['']}
    for name, (minimum, maximum) in SUPPORTED_VERSIONS.items():
        spec = runtime[name].specifier
        assert spec.contains(minimum), f'{name}: {minimum} refused by {spec}'
        below = re.sub(r'(\d+)$', lambda m: str(int(m.group(1)) - 1), minimum)
        assert not spec.contains(below), f'{name}: {below} accepted by {spec}'
        if maximum is not None:
            assert not spec.contains(maximum), f'{name}: {maximum} accepted by {spec}'
        else:
            assert spec.contains('99.0')


@pytest.mark.parametrize(
    'module,version,range_',
    [
        ('mmengine', '0.9.1', '>=0.10.0,<1.0.0'),
        ('mmengine', '1.0.0', '>=0.10.0,<1.0.0'),
        ('torch', '2.1.0+cu121', '>=2.5'),
    ],
)
def test_import_checks_the_core_versions(module, version, range_):
    proc = _run(f'import {module}; {module}.__version__ = {version!r}; import mmdistilldepth')
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('ImportError: mmdistilldepth')
    assert f'needs {module}{range_}, but {module} {version} is installed' in last
    assert f'pip install "{module}{range_}"' in last


def test_import_accepts_the_installed_versions():
    proc = _run(
        'import torch, mmengine; torch.__version__ = "2.5.0+cpu"; '
        'mmengine.__version__ = "0.10.0"; import mmdistilldepth; print("ok")'
    )
    assert proc.returncode == 0 and proc.stdout.strip() == 'ok', proc.stderr


def test_package_and_default_model_never_import_diffusers():
    code = '\n'.join(
        [
            'import sys',
            'import mmdistilldepth',
            'from mmengine.config import Config',
            'from mmdistilldepth.registry import MODELS',
            'from mmdistilldepth.utils import register_all_modules',
            'register_all_modules()',
            "cfg = Config.fromfile('configs/quickstart/cross_context_synthetic.py')",
            'model = MODELS.build(cfg.model)',
            "print(type(model).__name__, sorted(m for m in sys.modules if m.split('.')[0] == "
            "'diffusers'))",
        ]
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ['CrossContextDistiller', '[]'], proc.stdout
