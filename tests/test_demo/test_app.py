"""The page's callbacks, called directly (no server): values and errors as gradio gets them."""

import cv2
import numpy as np
import pytest

gr = pytest.importorskip(
    'gradio', reason='the demo extra is not installed: pip install "mmdistilldepth[demo]"'
)

from mmdistilldepth.apis import inference_depth  # noqa: E402
from mmdistilldepth.demo.app import DemoApp, build_app  # noqa: E402
from mmdistilldepth.demo.backend import colorize_rgb  # noqa: E402
from mmdistilldepth.demo.core import OutputStore, draw_box  # noqa: E402


@pytest.fixture(scope='module')
def app(tiny_models, tmp_path_factory):
    return DemoApp(tiny_models, store=OutputStore(str(tmp_path_factory.mktemp('store'))))


def test_predict_and_depth_show_the_inference_path(app, image_file):
    model = app.model
    expected = inference_depth(
        model.model, cv2.imread(image_file)[..., ::-1].copy(), model.input_size, model.max_size
    )
    color_path, npy_path = app.predict(image_file)
    np.testing.assert_array_equal(np.load(npy_path), expected)
    np.testing.assert_array_equal(cv2.imread(color_path)[..., ::-1], colorize_rgb(expected))
    color, (shown_input, shown_depth), colorbar, files, info = app.depth(image_file)
    np.testing.assert_array_equal(color, colorize_rgb(expected))
    assert shown_input.shape == (40, 60, 3) and shown_depth is color
    assert [f.rsplit('/', 1)[1] for f in files] == [
        'photo_color.png',
        'photo_disparity16.png',
        'photo_disparity.npy',
        'photo.ply',
    ]
    assert f'near: {expected.max():.4g}' in colorbar and '60x40 px' in info


def test_depth_tab_of_a_metric_model(app, image_file):
    """A metric model's depth: depth files, metres in the notes, inverse-depth colours."""
    from mmdistilldepth.demo.core import DemoModel
    from tests.conftest import tiny_dav2

    net = tiny_dav2(seed=2, max_depth=20.0)
    metric = DemoApp([DemoModel('metric', net, 56, 280)], store=app.store)
    color, _, colorbar, files, info = metric.depth(image_file)
    depth = np.load([f for f in files if f.endswith('.npy')][0])
    assert [f.rsplit('/', 1)[1] for f in files] == [
        'photo_color.png',
        'photo_depth16.png',
        'photo_depth.npy',
        'photo.ply',
    ]
    np.testing.assert_array_equal(color, colorize_rgb(depth, 'depth'))
    assert f'near: {depth.min():.4g} m' in colorbar and 'depth (m)' in info


def test_bad_uploads_become_page_errors(app, tmp_path):
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'\xff\xd8\xff\xe0 half a jpeg')
    with pytest.raises(gr.Error, match='broken.jpg cannot be used: truncated JPEG'):
        app.predict(str(broken))
    with pytest.raises(gr.Error, match='no image'):
        app.depth(None)
    dot = tmp_path / 'dot.png'
    cv2.imwrite(str(dot), np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(gr.Error, match='at least 14 px'):
        app.compare(str(dot))


def test_compare_tab(app, image_file):
    map_a, map_b, diff, info = app.compare(image_file)
    assert map_a.shape == map_b.shape == diff.shape == (40, 60, 3)
    assert not np.array_equal(map_a, map_b)  # two different models
    assert 'aligned to A by least squares' in info
    single = DemoApp(app.models[:1], store=app.store)
    with pytest.raises(gr.Error, match='--compare CONFIG'):
        single.compare(image_file)


def test_crop_tab(app, image_file):
    shown, *box = app.crop_start(image_file)
    assert box == [15, 10, 45, 30]
    rgb = cv2.imread(image_file)[..., ::-1]
    np.testing.assert_array_equal(shown, draw_box(rgb, (15, 10, 45, 30)))
    event = gr.SelectData(None, {'index': [50, 35], 'value': None})
    _, *corner, first = app.crop_corner(image_file, None, None, None, None, True, event)
    assert corner == [50, 35, 50, 35] and first is False
    event = gr.SelectData(None, {'index': [5, 2], 'value': None})
    _, *corner, first = app.crop_corner(image_file, *corner, False, event)
    assert corner == [50, 35, 5, 2] and first is True
    boxed, from_full, alone, info = app.crop(image_file, *corner)
    assert from_full.shape == alone.shape == (33, 45, 3)
    assert 'crop 45x33 px at (5, 2)' in info
    with pytest.raises(gr.Error, match='under 14 px'):
        app.crop(image_file, 0, 0, 5, 5)


def test_page_has_the_stable_api(app):
    page = build_app(app, examples=[])
    config = page.get_config_file()
    names = {dep.get('api_name'): dep for dep in config['dependencies']}
    assert {'predict', 'depth', 'compare', 'crop'} <= set(names)
    assert len(names['predict']['inputs']) == 1 and len(names['predict']['outputs']) == 2
    labels = [c['props'].get('label') for c in config['components'] if c.get('type') == 'tabitem']
    assert labels == ['Depth', 'Compare', 'Crop (Fig. 5)']
