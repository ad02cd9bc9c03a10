"""Shared test helpers.

Reference fixtures (``../shared/fixtures`` beside the checkout, or ``$MDD_FIXTURES``)
are produced by the official implementations. A user's clone may not have them: the
tests that need them are skipped with the reason. CI sets ``MDD_REQUIRE_FIXTURES=1``,
which turns a missing fixture into a failure, so CI never skips them silently.
"""

import os
import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def fixtures_root() -> str:
    return os.environ.get('MDD_FIXTURES', osp.join(REPO_ROOT, '..', 'shared', 'fixtures'))


def require_fixture(*parts: str) -> str:
    """The path of a reference fixture; skips (or fails under CI) when it is absent."""
    path = osp.join(fixtures_root(), *parts)
    if osp.exists(path):
        return path
    message = (
        f'reference fixture {path} is missing; set MDD_FIXTURES to the folder '
        'that holds dav2_vits/, hdn_loss/ and eval_reference/'
    )
    if os.environ.get('MDD_REQUIRE_FIXTURES') == '1':
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True, scope='session')
def _few_threads():
    """Keep tests predictable on small machines."""
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
    yield


def load_tool(*parts: str):
    """Import a script under ``tools/`` (not a package) as a module, e.g. ``('infer.py',)``."""
    import importlib.util

    path = osp.join(REPO_ROOT, 'tools', *parts)
    name = '_tool_' + '_'.join(parts).replace('.py', '').replace('/', '_')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: The encoder of the tiny Depth Anything V2 the tool and demo tests build.
TINY_ENCODER = dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3))


def tiny_dav2(seed: int = 0, **kwargs):
    """A tiny random ``DepthAnythingV2`` (features 16), in eval mode; ``kwargs`` such
    as ``max_depth=20.0`` go to the constructor.
    """
    import torch

    from mmdistilldepth.models.estimators import DepthAnythingV2

    torch.manual_seed(seed)
    return DepthAnythingV2(TINY_ENCODER, 16, [8, 16, 24, 48], **kwargs).eval()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
