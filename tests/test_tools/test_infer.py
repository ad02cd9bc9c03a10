import math

import cv2
import numpy as np
import pytest
import torch

from mmdistilldepth.apis import inference as inference_module
from mmdistilldepth.apis.outputs import (
    colorize_disparity,
    disparity_to_points,
    disparity_to_uint16,
    write_ply,
)
from mmdistilldepth.models.estimators import DepthAnythingV2
from tests.conftest import load_tool, tiny_dav2

CONFIG = """model = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3)),
    features=16, out_channels=[8, 16, 24, 48])
"""


def _tool():
    return load_tool('infer.py')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('infer')
    (root / 'tiny.py').write_text(CONFIG)
    torch.manual_seed(0)
    model = DepthAnythingV2(
        dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3)), 16, [8, 16, 24, 48]
    )
    with torch.no_grad():
        model.depth_head.scratch.output_conv2[2].bias.fill_(1.0)
    torch.save(model.state_dict(), root / 'tiny.pth')
    images = root / 'images'
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ('a.png', 'b.jpg'):
        cv2.imwrite(str(images / name), rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    (images / 'broken.png').write_bytes(b'not an image')
    return root, _tool()


def test_folder_with_a_broken_file(setup, capsys):
    root, tool = setup
    out = root / 'out'
    code = tool.main(
        [
            str(root / 'images'),
            str(root / 'tiny.py'),
            str(root / 'tiny.pth'),
            '--out-dir',
            str(out),
            '--save',
            'color',
            'png16',
            'npy',
            'ply',
            '--input-size',
            '28',
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert 'broken.png' in err and 'not a decodable image' in err
    for stem in ('a', 'b'):
        disp = np.load(out / f'{stem}_disparity.npy')
        assert disp.shape == (30, 40) and disp.dtype == np.float32
        assert cv2.imread(str(out / f'{stem}_color.png')).shape == (30, 40, 3)
        png16 = cv2.imread(str(out / f'{stem}_disparity16.png'), cv2.IMREAD_UNCHANGED)
        assert png16.dtype == np.uint16 and png16.max() == 65535 and png16.min() == 0
        data = (out / f'{stem}.ply').read_bytes()
        header, body = data.split(b'end_header\n')
        assert b'element vertex 1200' in header and len(body) == 1200 * 15
    assert not (out / 'broken_color.png').exists()


def test_single_image_and_glob(setup):
    root, tool = setup
    assert (
        tool.main(
            [
                str(root / 'images' / 'a.png'),
                str(root / 'tiny.py'),
                '--out-dir',
                str(root / 'one'),
                '--input-size',
                '28',
            ]
        )
        == 0
    )
    assert (root / 'one' / 'a_color.png').exists()
    assert (
        tool.main(
            [
                str(root / 'images' / '*.jpg'),
                str(root / 'tiny.py'),
                '--out-dir',
                str(root / 'glob'),
                '--input-size',
                '28',
            ]
        )
        == 0
    )
    assert (root / 'glob' / 'b_disparity.npy').exists()
    assert not (root / 'glob' / 'a_disparity.npy').exists()


@pytest.mark.parametrize('which', ['config', 'checkpoint', 'input'])
def test_missing_files_are_one_line(setup, capsys, which):
    root, tool = setup
    paths = dict(
        input=str(root / 'images'), config=str(root / 'tiny.py'), checkpoint=str(root / 'tiny.pth')
    )
    paths[which] = str(root / 'missing' / f'{which}.xyz')
    with pytest.raises(SystemExit) as info:
        tool.main(
            [paths['input'], paths['config'], paths['checkpoint'], '--out-dir', str(root / 'x')]
        )
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1 and f'{which}.xyz' in err


def test_point_cloud_geometry():
    disparity = np.zeros((4, 6), np.float32)
    disparity[:, 3:] = 2.0  # right half near, left half far
    points = disparity_to_points(disparity, fov_deg=90.0, depth_range=(1.0, 10.0)).reshape(4, 6, 3)
    np.testing.assert_allclose(points[..., 2][:, :3], 10.0)
    np.testing.assert_allclose(points[..., 2][:, 3:], 1.0)
    focal = 3.0 / math.tan(math.radians(45.0))
    # Pixel centre u = 0.5 lies 2.5 pixels left of the principal point at x = 3.
    np.testing.assert_allclose(points[0, 0, 0], -2.5 / focal * 10.0, rtol=1e-6)
    np.testing.assert_allclose(points[3, 5, 1], 1.5 / focal * 1.0, rtol=1e-6)


def test_colour_and_uint16_are_normalized_and_monotonic():
    ramp = np.linspace(0.2, 0.9, 50, dtype=np.float32)[None].repeat(3, 0)
    png16 = disparity_to_uint16(ramp)
    assert png16[0, 0] == 0 and png16[0, -1] == 65535 and np.all(np.diff(png16[0].astype(int)) > 0)
    color = colorize_disparity(ramp)
    brightness = color[0].astype(int).sum(-1)
    assert brightness[-1] > brightness[0] and color.dtype == np.uint8
    assert np.all(disparity_to_uint16(np.ones((2, 2))) == 0)


def test_write_ply_roundtrip(tmp_path):
    points = np.arange(6, dtype=np.float32).reshape(2, 3)
    colors = np.array([[1, 2, 3], [250, 251, 252]], np.uint8)
    write_ply(str(tmp_path / 'p.ply'), points, colors)
    body = (tmp_path / 'p.ply').read_bytes().split(b'end_header\n')[1]
    vertex = np.frombuffer(body, dtype=[('xyz', '<f4', 3), ('rgb', 'u1', 3)])
    np.testing.assert_array_equal(vertex['xyz'], points)
    np.testing.assert_array_equal(vertex['rgb'], colors)


def test_max_size_caps_the_input_of_a_panorama(setup, tmp_path, monkeypatch):
    """A 30x1500 panorama would become a 518x25900 network input; --max-size caps it."""
    root, infer = setup
    cv2.imwrite(str(tmp_path / 'pano.png'), np.full((30, 1500, 3), 128, np.uint8))
    shapes = []
    original = inference_module.prepare_dav2_input

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        shapes.append(out.shape)
        return out

    monkeypatch.setattr(inference_module, 'prepare_dav2_input', recording)
    code = infer.main(
        [
            str(tmp_path / 'pano.png'),
            str(root / 'tiny.py'),
            str(root / 'tiny.pth'),
            '--out-dir',
            str(tmp_path / 'out'),
            '--save',
            'npy',
            '--max-size',
            '280',
        ]
    )
    assert code == 0 and shapes == [(1, 3, 14, 280)]
    disparity = np.load(tmp_path / 'out' / 'pano_disparity.npy')
    assert disparity.shape == (30, 1500) and np.isfinite(disparity).all()


def test_input_size_comes_from_the_training_config(setup, tmp_path, monkeypatch):
    """No --input-size: a distiller config's train_size (or the checkpoint's meta) decides."""
    root, infer = setup
    sizes = []
    original = inference_module.prepare_dav2_input

    def recording(rgb, input_size=518, *args, **kwargs):
        sizes.append(input_size)
        return original(rgb, input_size, *args, **kwargs)

    monkeypatch.setattr(inference_module, 'prepare_dav2_input', recording)
    image = str(root / 'images' / 'a.png')
    distiller = tmp_path / 'distiller.py'
    distiller.write_text(
        CONFIG.replace(
            "model = dict(\n    type='DepthAnythingV2',",
            "student = dict(\n    type='DepthAnythingV2',",
        )
        + "model = dict(type='CrossContextDistiller', student=student, "
        'train_size=(42, 56))\n'
    )
    assert (
        infer.main(
            [image, str(distiller), str(root / 'tiny.pth'), '--out-dir', str(tmp_path / 'a')]
        )
        == 0
    )
    # a training checkpoint carries its config in meta: it wins over CONFIG
    model = torch.load(root / 'tiny.pth')
    torch.save(
        dict(state_dict=model, meta=dict(cfg='model = dict(train_size=(28, 28))')),
        tmp_path / 'trained.pth',
    )
    assert (
        infer.main(
            [
                image,
                str(root / 'tiny.py'),
                str(tmp_path / 'trained.pth'),
                '--out-dir',
                str(tmp_path / 'b'),
            ]
        )
        == 0
    )
    assert (
        infer.main(
            [
                image,
                str(distiller),
                str(root / 'tiny.pth'),
                '--input-size',
                '70',
                '--out-dir',
                str(tmp_path / 'c'),
            ]
        )
        == 0
    )
    assert (
        infer.main(
            [image, str(root / 'tiny.py'), str(root / 'tiny.pth'), '--out-dir', str(tmp_path / 'd')]
        )
        == 0
    )
    assert sizes == [42, 28, 70, 518]  # short side; the flag; the plain model's default


def test_metric_model_writes_depth_in_metres(setup, capsys):
    """A metric student (pred_space 'depth') gets depth files, not disparity ones."""
    root, tool = setup
    (root / 'metric.py').write_text(CONFIG.replace('48])', '48], max_depth=20.0)'))
    model = tiny_dav2(seed=1, max_depth=20.0)
    torch.save(model.state_dict(), root / 'metric.pth')
    out = root / 'metric_out'
    args = [str(root / 'images' / 'a.png'), str(root / 'metric.py'), str(root / 'metric.pth')]
    save = ['--save', 'color', 'png16', 'npy', 'ply', '--input-size', '28']
    assert tool.main(args + ['--out-dir', str(out)] + save) == 0
    assert 'metric model' in capsys.readouterr().out
    assert not (out / 'a_disparity.npy').exists()
    depth = np.load(out / 'a_depth.npy')
    expected = inference_module.inference_depth(
        model, cv2.imread(str(root / 'images' / 'a.png'))[..., ::-1].copy(), 28
    )
    np.testing.assert_allclose(depth, expected, rtol=1e-5)
    assert 0 < depth.min() and depth.max() < 20.0
    png16 = cv2.imread(str(out / 'a_depth16.png'), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(png16, np.round(depth.astype(np.float64) * 256))
    body = (out / 'a.ply').read_bytes().split(b'end_header\n')[1]
    vertex = np.frombuffer(body, dtype=[('xyz', '<f4', 3), ('rgb', 'u1', 3)])
    np.testing.assert_allclose(vertex['xyz'][:, 2], depth.reshape(-1), rtol=1e-6)
    # near = bright, as for disparity: the nearest pixel is brighter than the farthest
    brightness = cv2.imread(str(out / 'a_color.png')).astype(int).sum(-1)
    near, far = (
        np.unravel_index(depth.argmin(), depth.shape),
        np.unravel_index(depth.argmax(), depth.shape),
    )
    assert brightness[near] > brightness[far]
