"""mmdistilldepth/datasets/transforms/loading.py: every depth format decoded."""

import cv2
import numpy as np
import pytest

from mmdistilldepth.datasets import NYUv2Dataset
from mmdistilldepth.datasets.synthetic_benchmarks import write_synthetic_benchmark
from mmdistilldepth.datasets.transforms import LoadDepthAnnotation, LoadRGBImage
from mmdistilldepth.utils.image_io import UnreadableFileError


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
    out = LoadDepthAnnotation(format='diode')(
        dict(depth_path=str(tmp_path / 'd_depth.npy'), mask_path=str(tmp_path / 'd_depth_mask.npy'))
    )
    assert out['gt_depth'].shape == (4, 6) and out['gt_valid_mask'].sum() == 4

    kitti = np.zeros((375, 1242), np.uint16)
    kitti[200, 300] = 256 * 20 + 128
    cv2.imwrite(str(tmp_path / 'k.png'), kitti)
    out = LoadDepthAnnotation(format='kitti')(dict(depth_path=str(tmp_path / 'k.png')))
    assert out['gt_depth'][200, 300] == 20.5
    with pytest.raises(ValueError, match='unknown depth format'):
        LoadDepthAnnotation(format='exr')
