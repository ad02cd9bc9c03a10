"""ONNX export of the two MiDaS variants (tiny timm configurations) with onnxruntime parity.

The BEiT relative-position index and Swin2 windows are built from the traced input
size, so a MiDaS graph is exported for one H x W (the batch stays dynamic).
"""

import pytest
import torch

from mmdistilldepth.registry import MODELS
from tests.conftest import load_tool
from tests.test_models.test_estimators.test_midas import TINY_BEIT, TINY_SWIN2

pytest.importorskip('onnxruntime')


@pytest.mark.parametrize(
    'cfg,shape', [(TINY_BEIT, (64, 96)), (TINY_SWIN2, (64, 64))], ids=['beit', 'swin2']
)
def test_midas_onnx_matches_torch(tmp_path, cfg, shape):
    tool = load_tool('deployment', 'export_onnx.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    path = str(tmp_path / 'midas.onnx')
    tool.export_onnx(model, path, shape=shape)
    image = torch.randn(2, 3, *shape)
    with torch.no_grad():
        out = model(image)
    assert out.std() > 0
    assert tool.onnx_vs_torch(model, path, image) < 1e-4
