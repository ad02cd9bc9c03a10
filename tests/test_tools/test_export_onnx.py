import numpy as np
import pytest
import torch

from mmdistilldepth.models.estimators import DepthAnythingV2
from tests.conftest import load_tool

pytest.importorskip('onnxruntime')


def _tool():
    return load_tool('deployment', 'export_onnx.py')


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    tool = _tool()
    torch.manual_seed(0)
    model = DepthAnythingV2(
        dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3)), 16, [8, 16, 24, 48]
    ).eval()
    with torch.no_grad():  # amplify the last conv so the output varies visibly
        model.depth_head.scratch.output_conv2[2].weight.mul_(50)
        model.depth_head.scratch.output_conv2[2].bias.fill_(1.0)
    path = str(tmp_path_factory.mktemp('onnx') / 'tiny.onnx')
    tool.export_onnx(model, path, shape=(28, 42))
    return tool, model, path


@pytest.mark.parametrize(
    'shape', [(1, 3, 28, 42), (2, 3, 70, 56), (1, 3, 518, 518), (1, 3, 532, 518)]
)
def test_onnxruntime_matches_torch_on_dynamic_shapes(exported, shape):
    tool, model, path = exported
    torch.manual_seed(1)
    image = torch.randn(*shape)
    with torch.no_grad():
        reference = model(image)
    assert float(reference.std()) > 1e-3  # the comparison is not between constants
    assert tool.onnx_vs_torch(model, path, image) <= 1e-3


def test_graph_io_names_and_dynamic_axes(exported):
    import onnx

    _, _, path = exported
    graph = onnx.load(path).graph
    dims = [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim]
    assert graph.input[0].name == 'image' and graph.output[0].name == 'disparity'
    assert dims == ['batch', '', 'height', 'width']


def test_cli_verify(tmp_path, capsys):
    tool = _tool()
    (tmp_path / 'tiny.py').write_text(
        "model = dict(type='DepthAnythingV2', encoder=dict(embed_dim=32, depth=2, "
        'num_heads=2), features=16, out_channels=[8, 8, 16, 32])\n'
    )
    assert (
        tool.main(
            [
                str(tmp_path / 'tiny.py'),
                '--out',
                str(tmp_path / 'm.onnx'),
                '--shape',
                '28',
                '28',
                '--verify',
            ]
        )
        == 0
    )
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert float(line.rsplit(' ', 1)[-1]) <= 1e-3
    assert np.isfinite(float(line.rsplit(' ', 1)[-1]))
