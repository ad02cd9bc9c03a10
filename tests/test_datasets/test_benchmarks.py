"""Benchmark readers, loading/geometric/packing transforms, and the synthetic layouts."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tests.conftest import REPO_ROOT, load_tool, require_fixture
from mmdistilldepth.datasets.benchmarks import (DIODEDataset, ETH3DDataset,
                                                KITTIEigenDataset, NYUv2Dataset,
                                                ScanNetDataset)
from mmdistilldepth.datasets.synthetic_benchmarks import write_synthetic_benchmark
from mmdistilldepth.datasets.transforms import (KBCrop, LoadDepthAnnotation, LoadRGBImage,
                                                PackDepthInputs, ResizeForDepthModel)
from mmdistilldepth.registry import DATASETS
from mmdistilldepth.utils.image_io import UnreadableFileError

#: format -> (reader, size written, render scale, the pipeline's loading transforms)
FORMATS = {
    'nyu': (NYUv2Dataset, (120, 160), 1),
    'kitti': (KITTIEigenDataset, (375, 1242), 6),
    'eth3d': (ETH3DDataset, (60, 90), 1),
    'diode': (DIODEDataset, (48, 64), 1),
    'scannet': (ScanNetDataset, (60, 80), 1),
}
LOAD_ONLY = {fmt: [dict(type='LoadRGBImage'), dict(type='LoadDepthAnnotation', format=fmt)]
             for fmt in FORMATS}
LOAD_ONLY['kitti'].append(dict(type='KBCrop'))


@pytest.fixture(scope='module', autouse=True)
def _scope():
    init_default_scope('mmdistilldepth')


@pytest.fixture(scope='module')
def layouts(tmp_path_factory):
    """Three synthetic samples of every benchmark, in its layout, with its split list."""
    root = tmp_path_factory.mktemp('benchmarks')
    out = {}
    for fmt, (_, size, render_scale) in FORMATS.items():
        data_root = str(root / fmt)
        split = write_synthetic_benchmark(fmt, data_root, 3, seed=5, size=size,
                                          render_scale=render_scale)
        out[fmt] = (data_root, split)
    return out


@pytest.mark.parametrize('fmt', sorted(FORMATS))
@pytest.mark.parametrize('use_list', [True, False])
def test_reader_samples(layouts, fmt, use_list):
    data_root, split = layouts[fmt]
    reader = FORMATS[fmt][0]
    dataset = DATASETS.build(dict(type=reader.__name__, data_root=data_root,
                                  ann_file=osp.basename(split) if use_list else '',
                                  pipeline=LOAD_ONLY[fmt]))
    assert len(dataset) == 3
    assert dataset.metainfo['benchmark'] == fmt
    paths = set()
    for i in range(len(dataset)):
        sample = dataset[i]
        img, depth = sample['img'], sample['gt_depth']
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert depth.dtype == np.float32 and depth.shape == img.shape[:2]
        assert sample['benchmark'] == fmt and osp.isfile(sample['img_path'])
        assert (depth >= 0).all() and (depth > 0).any()
        paths.add(sample['img_path'])
        if fmt == 'diode':
            assert sample['gt_valid_mask'].dtype == bool
            assert sample['gt_valid_mask'].shape == depth.shape
        else:
            assert 'gt_valid_mask' not in sample
        if fmt == 'kitti':
            assert img.shape[:2] == (352, 1216)
    assert len(paths) == 3


def test_decoded_depth_matches_what_was_written(tmp_path):
    """Each format round-trips: PNG mm and /256, raw float32 with inf, npy + mask."""
    data_root = str(tmp_path / 'nyu')
    write_synthetic_benchmark('nyu', data_root, 1, seed=9, size=(40, 50))
    info = NYUv2Dataset(data_root)[0]
    sample = LoadDepthAnnotation(format='nyu')(LoadRGBImage()(info))
    png = cv2.imread(info['depth_path'], cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16
    np.testing.assert_array_equal(sample['gt_depth'], (png / 1000.0).astype(np.float32))

    raw = np.full((4, 6), 2.5, dtype='<f4')
    raw[1, 2] = np.inf
    raw_path = str(tmp_path / 'DSC_0001.JPG')
    raw.tofile(raw_path)
    out = LoadDepthAnnotation(format='eth3d')(dict(depth_path=raw_path, ori_shape=(4, 6)))
    assert out['gt_depth'][1, 2] == 0 and out['gt_depth'][0, 0] == 2.5
    with pytest.raises(UnreadableFileError, match='float32 values'):
        LoadDepthAnnotation(format='eth3d')(dict(depth_path=raw_path, ori_shape=(5, 6)))
    with pytest.raises(KeyError, match='LoadRGBImage'):
        LoadDepthAnnotation(format='raw_float32')(dict(depth_path=raw_path))

    np.save(tmp_path / 'd_depth.npy', np.ones((4, 6, 1), np.float32) * 3)
    np.save(tmp_path / 'd_depth_mask.npy', np.eye(4, 6, dtype=np.float32))
    out = LoadDepthAnnotation(format='diode')(dict(depth_path=str(tmp_path / 'd_depth.npy'),
                                                   mask_path=str(tmp_path / 'd_depth_mask.npy')))
    assert out['gt_depth'].shape == (4, 6) and out['gt_valid_mask'].sum() == 4

    kitti = np.zeros((375, 1242), np.uint16)
    kitti[200, 300] = 256 * 20 + 128
    cv2.imwrite(str(tmp_path / 'k.png'), kitti)
    out = LoadDepthAnnotation(format='kitti')(dict(depth_path=str(tmp_path / 'k.png')))
    assert out['gt_depth'][200, 300] == 20.5
    with pytest.raises(ValueError, match='unknown depth format'):
        LoadDepthAnnotation(format='exr')


def test_kb_crop_of_image_and_ground_truth():
    img = np.arange(375 * 1242 * 3, dtype=np.int64).reshape(375, 1242, 3).astype(np.uint8)
    depth = np.random.default_rng(0).random((375, 1242)).astype(np.float32)
    out = KBCrop()(dict(img=img, gt_depth=depth, ori_shape=(375, 1242)))
    assert out['kb_crop'] == (23, 13)
    np.testing.assert_array_equal(out['img'], img[23:375, 13:1229])
    np.testing.assert_array_equal(out['gt_depth'], depth[23:375, 13:1229])
    assert out['ori_shape'] == out['img_shape'] == (352, 1216)
    with pytest.raises(ValueError, match='352x1216'):
        KBCrop()(dict(img=img[:300]))


def test_resize_for_depth_model_is_the_official_preprocessing():
    """The resized image, normalized as the data preprocessor does, equals the
    official ``image2tensor`` output recorded in the DAv2 fixture."""
    path = require_fixture('dav2_vits', 'input.png')
    want = np.load(require_fixture('dav2_vits', 'input_tensor.npy'))
    out = ResizeForDepthModel()(LoadRGBImage()(dict(img_path=path)))
    assert out['img'].dtype == np.float32 and out['img_shape'] == (518, 686)
    assert out['ori_shape'] == (480, 640)
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    got = ((out['img'] - mean) / std).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize('shape,want', [((480, 640), (518, 686)), ((352, 1216), (518, 1792)),
                                        ((768, 1024), (518, 686)), ((600, 400), (784, 518)),
                                        ((518, 518), (518, 518))])
def test_resize_sizes(shape, want):
    out = ResizeForDepthModel()(dict(img=np.zeros((*shape, 3), np.uint8)))
    assert out['img'].shape[:2] == want
    assert all(side % 14 == 0 and side >= 518 for side in want)


def test_pack_depth_inputs():
    img = np.random.default_rng(1).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    depth = np.ones((6, 8), np.float32)
    mask = np.zeros((6, 8), bool)
    packed = PackDepthInputs(meta_keys=('kb_crop', ))(dict(
        img=img, gt_depth=depth, gt_valid_mask=mask, img_path='x.png', ori_shape=(6, 8),
        img_shape=(6, 8), benchmark='diode', kb_crop=(1, 2), sample_idx=4, unrelated=1))
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 6, 8)
    assert torch.equal(inputs, torch.from_numpy(img).permute(2, 0, 1))
    assert sample.gt_depth.data.shape == (1, 6, 8)
    assert sample.gt_valid_mask.data.dtype == torch.bool
    assert sample.metainfo == dict(img_path='x.png', ori_shape=(6, 8), img_shape=(6, 8),
                                   benchmark='diode', kb_crop=(1, 2), sample_idx=4)
    floats = PackDepthInputs()(dict(img=img.astype(np.float32) / 255))['inputs']
    assert floats.dtype == torch.float32


@pytest.mark.parametrize('fmt', sorted(FORMATS))
def test_config_pipelines_pack_model_inputs(layouts, fmt):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', f'{fmt}.py'))
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.data_root, split = layouts[fmt]
    dataset_cfg.ann_file = osp.basename(split)
    assert cfg.test_evaluator.benchmark == fmt
    dataset = DATASETS.build(dataset_cfg)
    packed = dataset[0]
    sample = packed['data_samples']
    assert packed['inputs'].dtype == torch.float32 and packed['inputs'].shape[0] == 3
    assert all(side % 14 == 0 for side in packed['inputs'].shape[1:])
    assert sample.benchmark == fmt and sample.gt_depth.data.ndim == 3
    assert ('gt_valid_mask' in sample) == (fmt == 'diode')


def test_missing_things_fail_with_the_name_and_a_fix(layouts, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data_root '.*nowhere'.*nyu_mat_to_layout"):
        NYUv2Dataset(str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match='no samples found'):
        ScanNetDataset(str(tmp_path))
    data_root, split = layouts['nyu']
    with pytest.raises(FileNotFoundError, match="split list .*nope.txt"):
        NYUv2Dataset(data_root, ann_file='nope.txt')
    broken = tmp_path / 'list.txt'
    broken.write_text('test/a/rgb_0001.png test/a/depth_0001.png\n')
    with pytest.raises(FileNotFoundError, match=r"2 file\(s\).*rgb_0001.png"):
        NYUv2Dataset(data_root, ann_file=str(broken))
    broken.write_text('only_one_token.png\n')
    with pytest.raises(ValueError, match='list.txt:1'):
        NYUv2Dataset(data_root, ann_file=str(broken))
    with pytest.raises(ValueError, match='eval_crop'):
        KITTIEigenDataset(layouts['kitti'][0], eval_crop='center')


def test_kitti_list_skips_frames_without_ground_truth(layouts):
    data_root, split = layouts['kitti']
    lines = open(split).read().split('\n')
    assert sum(' None ' in line for line in lines) == 1
    dataset = KITTIEigenDataset(data_root, ann_file=split, eval_crop='garg')
    assert len(dataset) == 3
    assert dataset.metainfo['eval_crop'] == 'kitti_garg'


def _tool(name):
    return load_tool('dataset_converters', f'{name}.py')


def _fake_nyu_mat(path, images, raw, filled, scenes):
    """A tiny stand-in of nyu_depth_v2_labeled.mat: MATLAB v7.3 = HDF5 + 512-byte header,
    arrays stored transposed as MATLAB does, scene names as referenced uint16 strings."""
    h5py = pytest.importorskip('h5py')
    with h5py.File(path, 'w', userblock_size=512) as f:
        f.create_dataset('images', data=images.transpose(0, 3, 2, 1))  # (N, 3, W, H)
        f.create_dataset('rawDepths', data=raw.transpose(0, 2, 1))
        f.create_dataset('depths', data=filled.transpose(0, 2, 1))
        refs = f.create_dataset('scenes', (1, len(scenes)), dtype=h5py.ref_dtype)
        for i, name in enumerate(scenes):
            chars = np.array([ord(c) for c in name], np.uint16)[:, None]
            refs[0, i] = f.create_dataset(f'#refs#/{i}', data=chars).ref
    with open(path, 'r+b') as f:
        f.write(b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: fake HDF5 schema')


def test_nyu_mat_converter_writes_the_reader_layout(tmp_path):
    scipy_io = pytest.importorskip('scipy.io')
    rng = np.random.default_rng(0)
    num, height, width = 3, 12, 16
    images = rng.integers(0, 255, (num, height, width, 3), dtype=np.uint8)
    raw = rng.uniform(0.5, 9.0, (num, height, width)).astype(np.float32)
    raw[:, 0, :4] = 0  # missing raw depth
    filled = raw + 0.25
    _fake_nyu_mat(str(tmp_path / 'labeled.mat'), images, raw, filled,
                  ['kitchen_0004', 'office_0005', 'kitchen_0004'])
    scipy_io.savemat(str(tmp_path / 'splits.mat'),
                     dict(testNdxs=np.array([[1.0], [3.0]]), trainNdxs=np.array([[2.0]])))
    tool = _tool('nyu_mat_to_layout')
    assert tool.is_hdf5_mat(str(tmp_path / 'labeled.mat'))
    assert not tool.is_hdf5_mat(str(tmp_path / 'splits.mat'))
    out = tmp_path / 'nyuv2'
    tool.main([str(tmp_path / 'labeled.mat'), str(tmp_path / 'splits.mat'), '--out', str(out),
               '--split', 'all'])
    lines = (out / 'filename_list_test.txt').read_text().split()
    assert lines == ['test/kitchen_0004/rgb_0001.png', 'test/kitchen_0004/depth_0001.png',
                     'test/kitchen_0004/filled_0001.png', 'test/kitchen_0004/rgb_0003.png',
                     'test/kitchen_0004/depth_0003.png', 'test/kitchen_0004/filled_0003.png']
    assert (out / 'filename_list_train.txt').read_text().startswith(
        'train/office_0005/rgb_0002.png')
    for ann_file in ('filename_list_test.txt', ''):
        dataset = NYUv2Dataset(str(out), ann_file=ann_file,
                               pipeline=[LoadRGBImage(), LoadDepthAnnotation(format='nyu')])
        assert len(dataset) == 2
        sample = dataset[1]  # image 3
        np.testing.assert_array_equal(sample['img'], images[2])
        np.testing.assert_allclose(sample['gt_depth'], raw[2], atol=5e-4)
        assert (sample['gt_depth'][0, :4] == 0).all()
    filled_png = cv2.imread(str(out / 'test/kitchen_0004/filled_0003.png'), -1)
    np.testing.assert_allclose(filled_png / 1000.0, filled[2], atol=5e-4)


def test_nyu_mat_converter_refuses_a_v5_labeled_file(tmp_path, capsys):
    scipy_io = pytest.importorskip('scipy.io')
    scipy_io.savemat(str(tmp_path / 'labeled.mat'), dict(images=np.zeros((2, 2))))
    scipy_io.savemat(str(tmp_path / 'splits.mat'), dict(testNdxs=np.ones((1, 1)),
                                                        trainNdxs=np.ones((1, 1))))
    with pytest.raises(SystemExit):
        _tool('nyu_mat_to_layout').main([str(tmp_path / 'labeled.mat'),
                                         str(tmp_path / 'splits.mat'), '--out',
                                         str(tmp_path / 'o')])
    assert 'v7.3' in capsys.readouterr().err


@pytest.mark.parametrize('split_style', ['paths', 'monodepth2'])
def test_kitti_converter_writes_the_eigen_layout(tmp_path, split_style):
    raw, annotated = tmp_path / 'raw', tmp_path / 'annotated'
    drive = '2011_09_26_drive_0002_sync'
    frames = ['0000000069.png', '0000000070.png']
    image = np.random.default_rng(0).integers(0, 255, (375, 1242, 3), dtype=np.uint8)
    for frame in frames:
        path = raw / '2011_09_26' / drive / 'image_02' / 'data' / frame
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image)
    (raw / '2011_09_26' / 'calib_cam_to_cam.txt').write_text(
        'P_rect_02: 7.215377e+02 0.0 6.095593e+02 4.485728e+01\n')
    gt = np.zeros((375, 1242), np.uint16)
    gt[300, 600] = 10 * 256
    gt_path = annotated / 'val' / drive / 'proj_depth' / 'groundtruth' / 'image_02' / frames[0]
    gt_path.parent.mkdir(parents=True)
    cv2.imwrite(str(gt_path), gt)
    split = tmp_path / 'split.txt'
    if split_style == 'paths':
        split.write_text(''.join(f'2011_09_26/{drive}/image_02/data/{f} x 721\n' for f in frames))
    else:
        split.write_text(f'2011_09_26/{drive} 69 l\n2011_09_26/{drive} 70 l\n')
    out = tmp_path / 'kitti'
    _tool('kitti_to_layout').main(['--raw-root', str(raw), '--depth-root', str(annotated),
                                   '--split', str(split), '--out', str(out)])
    lines = (out / 'eigen_test_files_with_gt.txt').read_text().splitlines()
    assert lines == [
        f'2011_09_26/{drive}/image_02/data/{frames[0]} '
        f'{drive}/proj_depth/groundtruth/image_02/{frames[0]} 7.215377e+02',
        f'2011_09_26/{drive}/image_02/data/{frames[1]} None 7.215377e+02']
    dataset = KITTIEigenDataset(str(out), ann_file='eigen_test_files_with_gt.txt',
                                pipeline=LOAD_ONLY['kitti'])
    assert len(dataset) == 1
    sample = dataset[0]
    assert sample['gt_depth'].shape == (352, 1216)
    assert sample['gt_depth'][300 - 23, 600 - 13] == 10.0
