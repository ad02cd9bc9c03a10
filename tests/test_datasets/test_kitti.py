"""mmdistilldepth/datasets/kitti.py and tools/dataset_converters/kitti_to_layout.py."""

import cv2
import numpy as np
import pytest

from mmdistilldepth.datasets import KITTIEigenDataset
from tests.conftest import load_tool
from tests.test_datasets.benchmark_formats import LOAD_ONLY

pytestmark = pytest.mark.usefixtures('mdd_default_scope')


def test_kitti_list_skips_frames_without_ground_truth(layouts):
    data_root, split = layouts['kitti']
    lines = open(split).read().split('\n')
    assert sum(' None ' in line for line in lines) == 1
    dataset = KITTIEigenDataset(data_root, ann_file=split, eval_crop='garg')
    assert len(dataset) == 3
    assert dataset.metainfo['eval_crop'] == 'kitti_garg'


def _tool(name):
    return load_tool('dataset_converters', f'{name}.py')


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
        'P_rect_02: 7.215377e+02 0.0 6.095593e+02 4.485728e+01\n'
    )
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
    _tool('kitti_to_layout').main(
        [
            '--raw-root',
            str(raw),
            '--depth-root',
            str(annotated),
            '--split',
            str(split),
            '--out',
            str(out),
        ]
    )
    lines = (out / 'eigen_test_files_with_gt.txt').read_text().splitlines()
    assert lines == [
        f'2011_09_26/{drive}/image_02/data/{frames[0]} '
        f'{drive}/proj_depth/groundtruth/image_02/{frames[0]} 7.215377e+02',
        f'2011_09_26/{drive}/image_02/data/{frames[1]} None 7.215377e+02',
    ]
    dataset = KITTIEigenDataset(
        str(out), ann_file='eigen_test_files_with_gt.txt', pipeline=LOAD_ONLY['kitti']
    )
    assert len(dataset) == 1
    sample = dataset[0]
    assert sample['gt_depth'].shape == (352, 1216)
    assert sample['gt_depth'][300 - 23, 600 - 13] == 10.0
