"""Bad inputs: every reader, the training dataset, infer.py and evaluation on the corpus."""

import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from mmdistilldepth.datasets import (
    CrossContextCrops,
    ETH3DDataset,
    LoadDepthAnnotation,
    LoadRGBImage,
    PackDepthInputs,
    ResizeCanvas,
    UnlabeledImageDataset,
)
from mmdistilldepth.evaluation import AffineInvariantDepthMetric
from mmdistilldepth.models.estimators import DepthAnythingV2
from mmdistilldepth.utils.image_io import (
    UnreadableFileError,
    read_png_depth,
    read_rgb,
    truncation_reason,
)
from tests.conftest import load_tool
from tests.test_reliability.bad_inputs import (
    DEPTH_CASES,
    FILL_RGB,
    IMAGE_CASES,
    exif_app1,
    exif_rotated_rgb,
    write_depth_corpus,
    write_image_corpus,
)

READABLE = sorted(n for n, e in IMAGE_CASES.items() if isinstance(e, tuple))
UNREADABLE = sorted(n for n, e in IMAGE_CASES.items() if isinstance(e, str))


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp('corpus')
    write_image_corpus(root)
    return root


@pytest.mark.parametrize('name', READABLE)
def test_read_rgb_accepts_every_mode_as_rgb(corpus, name):
    rgb = read_rgb(str(corpus / name))
    assert rgb.dtype == np.uint8 and rgb.shape == (*IMAGE_CASES[name], 3)
    centre = rgb[rgb.shape[0] // 2, rgb.shape[1] // 2].astype(int)
    expected = (128, 128, 128) if name == 'gray.png' else FILL_RGB
    # RGB order (not BGR), also for palette, 16-bit, RGBA and CMYK files
    assert np.abs(centre - expected).max() <= 3, (name, centre)


def test_exif_orientation_is_applied(corpus):
    rgb = read_rgb(str(corpus / 'exif_rotated.jpg'))
    stored = exif_rotated_rgb()  # 24x32, white block top-left
    expected = np.rot90(stored, k=-1)  # orientation 6: rotate 90 degrees clockwise
    assert rgb.shape == expected.shape == (32, 24, 3)
    white = rgb.min(axis=2) > 240
    assert white[:8, -8:].mean() > 0.9 and white[:, :-8].mean() < 0.05


@pytest.mark.parametrize('name', UNREADABLE)
def test_read_rgb_refuses_broken_files_with_the_reason(corpus, name):
    with pytest.raises(UnreadableFileError) as info:
        read_rgb(str(corpus / name))
    assert info.value.path == str(corpus / name)
    assert IMAGE_CASES[name] in info.value.reason


def test_jpeg_truncation_is_found_anywhere_and_complete_files_pass():
    rng = np.random.default_rng(0)
    bgr = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (5, 5), 0)
    whole = {
        'baseline': cv2.imencode('.jpg', bgr)[1].tobytes(),
        'progressive': cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes(),
        'restart markers': cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_RST_INTERVAL, 1])[
            1
        ].tobytes(),
    }
    whole['exif'] = whole['baseline'][:2] + exif_app1(3) + whole['baseline'][2:]
    for name, data in whole.items():
        assert truncation_reason(data) == '', name
        # bytes after the end-of-image marker (motion photos) are not a truncation
        assert truncation_reason(data + bytes(rng.integers(0, 256, 5000, np.uint8))) == ''
        cuts = range(3, len(data) - 1, max(1, len(data) // 97))
        assert all('truncated JPEG' in truncation_reason(data[:n]) for n in cuts), name
    png = cv2.imencode('.png', bgr)[1].tobytes()
    assert truncation_reason(png) == ''
    assert all('truncated PNG' in truncation_reason(png[:n]) for n in range(9, len(png) - 1, 397))


def test_truncated_depth_png_is_refused(tmp_path):
    data = cv2.imencode('.png', np.full((20, 30), 1500, np.uint16))[1].tobytes()
    (tmp_path / 'd.png').write_bytes(data)
    assert read_png_depth(str(tmp_path / 'd.png'), 1000.0)[0, 0] == pytest.approx(1.5)
    (tmp_path / 'cut.png').write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableFileError, match='truncated PNG'):
        read_png_depth(str(tmp_path / 'cut.png'), 1000.0)


def _training_set(root):
    return UnlabeledImageDataset(
        data_root=str(root),
        pipeline=[
            ResizeCanvas(size=(56, 56)),
            CrossContextCrops(global_size=56, shared_side=(28, None), num_local=2, seed=0),
            PackDepthInputs(meta_keys=('shared_box', 'local_boxes')),
        ],
    )


def test_training_set_skips_each_bad_file_once_and_goes_on(corpus, warnings_log):
    dataset = _training_set(corpus)
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    assert sorted(osp.basename(p) for p in paths) == sorted(IMAGE_CASES)
    for _ in range(2):  # two epochs: bad files are named once, and not read again
        for i in range(len(dataset)):
            sample = dataset[i]
            assert sample['inputs'].shape == (3, 56, 56)
            meta = sample['data_samples'].metainfo
            assert osp.basename(meta['img_path']) in READABLE
            assert meta['local_boxes'].shape == (2, 4)
    assert dataset.num_skipped == len(UNREADABLE)
    skipped = [m for m in warnings_log if 'skipping unreadable image' in m]
    assert len(skipped) == len(UNREADABLE)
    for name in UNREADABLE:
        line = next(m for m in skipped if osp.join(str(corpus), name) in m)
        assert IMAGE_CASES[name] in line
    assert f'{len(UNREADABLE)} skipped so far' in skipped[-1]


def test_replacements_are_reproducible(corpus):
    first, second = _training_set(corpus), _training_set(corpus)
    bad = next(
        i
        for i in range(len(first))
        if osp.basename(first.get_data_info(i)['img_path']) == 'truncated.jpg'
    )
    np.random.seed(1)
    a = first[bad]['data_samples'].metainfo['img_path']
    np.random.seed(2)
    b = second[bad]['data_samples'].metainfo['img_path']
    assert a == b and osp.basename(a) in READABLE


def test_training_set_fails_clearly_when_nothing_is_readable(tmp_path):
    for i in range(3):
        (tmp_path / f'{i}.jpg').write_bytes(b'')
    dataset = UnlabeledImageDataset(data_root=str(tmp_path), max_refetch=5)
    with pytest.raises(RuntimeError, match='6 unreadable files in a row.*check data_root'):
        dataset[0]


def _infer_tool():
    return load_tool('infer.py')


def test_infer_writes_every_readable_file_and_names_the_rest(corpus, tmp_path, capsys):
    (tmp_path / 'tiny.py').write_text(
        "model = dict(type='DepthAnythingV2', encoder=dict(embed_dim=48, depth=4, "
        'num_heads=2, layer_idx=(0, 1, 2, 3)), features=16, out_channels=[8, 16, 24, 48])\n'
    )
    torch.manual_seed(0)
    model = DepthAnythingV2(
        dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3)), 16, [8, 16, 24, 48]
    )
    torch.save(model.state_dict(), tmp_path / 'tiny.pth')
    out = tmp_path / 'out'
    code = _infer_tool().main(
        [
            str(corpus),
            str(tmp_path / 'tiny.py'),
            str(tmp_path / 'tiny.pth'),
            '--out-dir',
            str(out),
            '--save',
            'npy',
            '--input-size',
            '28',
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    for name in READABLE:
        disparity = np.load(out / f'{osp.splitext(name)[0]}_disparity.npy')
        assert disparity.shape == IMAGE_CASES[name] and np.isfinite(disparity).all()
    for name in UNREADABLE:
        assert not (out / f'{osp.splitext(name)[0]}_disparity.npy').exists()
        line = next(ln for ln in captured.err.splitlines() if name in ln)
        assert IMAGE_CASES[name] in line
    assert (
        f'{len(READABLE)} of {len(IMAGE_CASES)} images written' in captured.out
        and f'{len(UNREADABLE)} failed' in captured.out
    )


def _eth3d_samples(root):
    dataset = ETH3DDataset(
        data_root=str(root),
        pipeline=[LoadRGBImage(), LoadDepthAnnotation(format='eth3d'), PackDepthInputs()],
    )
    return [dataset[i] for i in range(len(dataset))]


def test_evaluation_names_and_excludes_images_without_valid_ground_truth(tmp_path, warnings_log):
    paths = write_depth_corpus(tmp_path)
    metric = AffineInvariantDepthMetric(benchmark='eth3d')
    samples = []
    for packed in _eth3d_samples(tmp_path):
        sample = packed['data_samples']
        gt = sample.gt_depth.data
        # a disparity prediction: 1/depth where the depth is usable, else 0.5
        usable = torch.isfinite(gt) & (gt > 0)
        sample.pred_depth = PixelData(
            data=torch.where(usable, 1 / gt.clamp(min=1e-3), torch.full_like(gt, 0.5))
        )
        samples.append(sample)
    metric.process({}, samples)
    results = metric.compute_metrics(metric.results)
    no_ground_truth = {'negative', 'all_zero', 'all_nan'}
    assert results['num_invalid'] == len(no_ground_truth)
    assert all(np.isfinite(v) for v in results.values())
    assert results['abs_rel'] == pytest.approx(0.0, abs=1e-5)  # exact where valid
    invalid = {r['img_path'] for r in metric.per_image_results if r['metrics'] is None}
    assert invalid == {paths[c] for c in no_ground_truth}
    line = next(m for m in warnings_log if 'no pixel to evaluate' in m)
    assert all(paths[c] in line for c in no_ground_truth)
    assert set(DEPTH_CASES) - no_ground_truth == {'good', 'with_nan', 'with_inf'}


def test_diode_mask_does_not_let_non_finite_depth_in():
    from mmdistilldepth.evaluation import evaluate_depth

    depth = torch.linspace(2, 4, 24 * 32).reshape(24, 32)
    gt = depth.clone()
    gt[::3] = float('nan')
    values = evaluate_depth(
        1 / depth, gt, 'diode', 'least_square_disparity', torch.ones(24, 32, dtype=torch.bool)
    )
    assert torch.isfinite(values['abs_rel']) and values['abs_rel'] < 1e-5


def test_a_missing_depth_file_stops_the_benchmark_with_its_name(tmp_path):
    paths = write_depth_corpus(tmp_path)
    depth = (
        tmp_path
        / 'depth'
        / 'good_dslr_depth'
        / 'good'
        / 'ground_truth_depth'
        / 'dslr_images'
        / 'DSC_0001.JPG'
    )
    depth.unlink()
    with pytest.raises(FileNotFoundError, match='missing.*DSC_0001.JPG'):
        ETH3DDataset(data_root=str(tmp_path), pipeline=[])
    assert osp.isfile(paths['good'])
    # the loader itself names a missing file too (a file removed after listing)
    with pytest.raises(UnreadableFileError, match='no such depth file'):
        LoadDepthAnnotation(format='eth3d')(dict(depth_path=str(depth), ori_shape=(24, 32)))
    with pytest.raises(UnreadableFileError, match='no such image file'):
        LoadRGBImage()(dict(img_path=str(tmp_path / 'nothing.jpg')))
