import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmdistilldepth.apis import inference_depth
from mmdistilldepth.apis.outputs import colorize_disparity
from mmdistilldepth.demo import backend
from mmdistilldepth.demo.core import (
    EXAMPLES,
    MIN_SIDE,
    DemoInputError,
    OutputStore,
    colorbar_html,
    compare_disparities,
    crop_prediction,
    default_box,
    newest_checkpoint,
    parse_box,
    product_stem,
    read_upload,
    write_examples,
)
from mmdistilldepth.utils import UserInputError
from tests.conftest import load_tool


def test_products_are_the_files_of_tools_infer(tmp_path, tiny_files, image_file):
    """What the page offers for download is byte for byte what tools/infer.py writes."""
    config, checkpoint = tiny_files
    code = load_tool('infer.py').main(
        [
            image_file,
            config,
            checkpoint,
            '--out-dir',
            str(tmp_path / 'infer'),
            '--save',
            'color',
            'png16',
            'npy',
            'ply',
            '--input-size',
            '56',
        ]
    )
    assert code == 0
    from mmdistilldepth.apis import init_model

    model = init_model(config, checkpoint)
    rgb, notices = read_upload(image_file)
    assert notices == []
    disparity = backend.predict_disparity(model, rgb, 56, 2044)
    os.makedirs(tmp_path / 'demo')
    files = backend.write_products(rgb, disparity, product_stem(str(tmp_path / 'demo'), image_file))
    assert sorted(files) == ['color', 'npy', 'ply', 'png16']
    for path in files.values():
        theirs = tmp_path / 'infer' / osp.basename(path)
        assert open(path, 'rb').read() == theirs.read_bytes(), osp.basename(path)
    np.testing.assert_array_equal(
        backend.colorize_rgb(disparity), colorize_disparity(disparity)[..., ::-1]
    )


def test_read_upload_refuses_what_it_cannot_use(tmp_path):
    not_image = tmp_path / 'notes.png'
    not_image.write_text('these are notes, not pixels')
    with pytest.raises(DemoInputError, match='notes.png cannot be used: not a decodable image'):
        read_upload(str(not_image))
    with pytest.raises(DemoInputError, match='no image'):
        read_upload(None)
    tiny = tmp_path / 'dot.png'
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(DemoInputError, match=f'1x1 px; the demo needs at least {MIN_SIDE} px'):
        read_upload(str(tiny))
    big = tmp_path / 'big.png'
    cv2.imwrite(str(big), np.zeros((50, 80, 3), np.uint8))
    with pytest.raises(DemoInputError, match=r'80x50 px \(0.0 MP\).*--max-pixels'):
        read_upload(str(big), max_pixels=3999)
    assert read_upload(str(big), max_pixels=4000)[0].shape == (50, 80, 3)


def test_read_upload_converts_grayscale_and_alpha_with_a_notice(tmp_path):
    gray = tmp_path / 'gray.png'
    values = np.arange(30 * 20, dtype=np.uint8).reshape(20, 30)
    cv2.imwrite(str(gray), values)
    rgb, notices = read_upload(str(gray))
    np.testing.assert_array_equal(rgb, np.repeat(values[..., None], 3, -1))
    assert len(notices) == 1 and 'grayscale' in notices[0]
    rgba = tmp_path / 'rgba.png'
    bgra = np.dstack([np.full((20, 30, 3), (10, 20, 30), np.uint8), np.zeros((20, 30), np.uint8)])
    cv2.imwrite(str(rgba), bgra)
    rgb, notices = read_upload(str(rgba))
    assert (rgb == (30, 20, 10)).all()
    assert len(notices) == 1 and 'alpha channel' in notices[0]


def test_bound_notice_for_elongated_images(tiny_models):
    model = tiny_models[0]  # input size 56, max size 280
    assert model.bound_notice(40, 60) is None
    notice = model.bound_notice(20, 2000)
    assert '--max-size 280' in notice and '2000x20 px' in notice


def test_compare_removes_scale_and_shift():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.1, 1.0, (30, 40)).astype(np.float32)
    exact = compare_disparities(a, (a * 3 + 2).astype(np.float32))
    assert exact.scale == pytest.approx(1 / 3, rel=1e-5)
    assert exact.shift == pytest.approx(-2 / 3, rel=1e-5)
    assert exact.mean_rel < 1e-6 and exact.frac_over == 0
    b = a.copy()
    b[:10] += 0.5  # a third of the map disagrees
    partial = compare_disparities(a, b)
    assert partial.mean_rel > 0.05 and 0.2 < partial.frac_over <= 1
    with pytest.raises(ValueError, match='differ in shape'):
        compare_disparities(a, a[:5])


def test_parse_box():
    assert parse_box([50, 40, 10, 5], 30, 40) == (10, 5, 40, 30)  # swapped and clipped
    assert default_box(40, 60) == (15, 10, 45, 30)
    with pytest.raises(DemoInputError, match='under 14 px'):
        parse_box([0, 0, 10, 30], 30, 40)
    with pytest.raises(DemoInputError, match='x0, y0, x1, y1'):
        parse_box([0, None, 10, 30], 30, 40)


def test_crop_prediction(tiny_models, image_file):
    model = tiny_models[0]
    rgb, _ = read_upload(image_file)
    box = (10, 5, 50, 35)
    result = crop_prediction(model, rgb, box)
    full = inference_depth(model.model, rgb, model.input_size, model.max_size)
    np.testing.assert_array_equal(result.from_full, full[5:35, 10:50])
    alone = inference_depth(
        model.model, np.ascontiguousarray(rgb[5:35, 10:50]), model.input_size, model.max_size
    )
    np.testing.assert_array_equal(result.alone, alone)
    assert result.alone.shape == (30, 40)
    assert result.comparison.mean_rel > 0  # a different input: a different map


def test_examples_and_colorbar(tmp_path):
    paths = write_examples(str(tmp_path))
    assert [osp.basename(p) for p in paths] == [name for name, *_ in EXAMPLES]
    for path, (_, _, height, width) in zip(paths, EXAMPLES):
        rgb, _ = read_upload(path)
        assert rgb.shape == (height, width, 3) and rgb.std() > 5
    html = colorbar_html(np.array([[0.25, 1.5]], np.float32))
    assert 'far: disparity 0.25' in html and 'near: 1.5' in html
    assert 'linear-gradient' in html


def test_output_store_keeps_the_newest(tmp_path):
    store = OutputStore(str(tmp_path), keep=2)
    made = [store.new_dir() for _ in range(4)]
    assert [osp.isdir(p) for p in made] == [False, False, True, True]
    assert product_stem(made[-1], '/up/my photo.JPG') == osp.join(made[-1], 'my_photo')


def test_newest_checkpoint(tmp_path):
    with pytest.raises(
        UserInputError,
        match='run python tools/train.py configs/quickstart/cross_context_synthetic.py first',
    ):
        newest_checkpoint(str(tmp_path))
    for name in ('iter_10.pth', 'iter_2.pth', 'iter_x.pth'):
        (tmp_path / name).write_bytes(b'')
    assert newest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_10.pth')
    (tmp_path / 'best_abs_rel_iter_2.pth').write_bytes(b'')
    assert newest_checkpoint(str(tmp_path)) == str(tmp_path / 'best_abs_rel_iter_2.pth')
