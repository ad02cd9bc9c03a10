"""The DINOv2 backbone and the DPT head run without mmengine (framework-free blocks).

mmdistilldepth/models/backbones/ and mmdistilldepth/models/heads/ import only torch and
timm; they are registered in MODELS by the estimator module that builds them.
"""

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import importlib.abc, importlib.util, os, sys

    class _Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == 'mmengine' or name.startswith('mmengine.') or name == 'mmdistilldepth':
                raise ImportError(f'{name} is blocked in this test')
            return None

    sys.meta_path.insert(0, _Blocker())
    for name in [m for m in sys.modules if m.split('.')[0] in ('mmengine', 'mmdistilldepth')]:
        del sys.modules[name]

    def load_package(alias, folder):
        spec = importlib.util.spec_from_file_location(
            alias, os.path.join(folder, '__init__.py'), submodule_search_locations=[folder])
        module = importlib.util.module_from_spec(spec)
        sys.modules[alias] = module
        spec.loader.exec_module(module)
        return module

    models = os.path.join(sys.argv[1], 'mmdistilldepth', 'models')
    backbones = load_package('blocks_backbones', os.path.join(models, 'backbones'))
    heads = load_package('blocks_heads', os.path.join(models, 'heads'))
    import torch
    assert not any(m.split('.')[0] == 'mmengine' for m in sys.modules), 'mmengine imported'
    arch = dict(embed_dim=48, depth=4, num_heads=3, layer_idx=(0, 1, 2, 3))
    vit = backbones.DINOv2ViT(arch).eval()
    head = heads.DPTHead(48, 16, (8, 16, 24, 48)).eval()
    x = torch.randn(1, 3, 28, 42)
    with torch.no_grad():
        feats = vit(x)
        out = head(feats, 2, 3, out_size=(28, 42))
    assert out.shape == (1, 1, 28, 42), out.shape
    assert torch.isfinite(out).all()
    print('ok', tuple(out.shape))
""")


def test_backbone_and_head_build_and_run_without_mmengine():
    out = subprocess.run(
        [sys.executable, '-c', SCRIPT, ROOT], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[0] == 'ok'


def test_the_estimator_builds_the_blocks_from_the_registry():
    from mmdistilldepth.models import DepthAnythingV2
    from mmdistilldepth.models.backbones import DINOv2ViT
    from mmdistilldepth.models.heads import DPTHead
    from mmdistilldepth.registry import MODELS

    assert MODELS.get('DINOv2ViT') is DINOv2ViT
    assert MODELS.get('DPTHead') is DPTHead
    model = DepthAnythingV2(
        dict(embed_dim=48, depth=4, num_heads=3, layer_idx=(0, 1, 2, 3)), 16, [8, 16, 24, 48]
    )
    assert isinstance(model.pretrained, DINOv2ViT)
    assert isinstance(model.depth_head, DPTHead)
    head = MODELS.build(
        dict(type='DPTHead', in_channels=48, features=16, out_channels=(8, 16, 24, 48))
    )
    assert sum(p.numel() for p in head.parameters()) == sum(
        p.numel() for p in model.depth_head.parameters()
    )


if __name__ == '__main__':  # pragma: no cover
    sys.exit(pytest.main([__file__]))
