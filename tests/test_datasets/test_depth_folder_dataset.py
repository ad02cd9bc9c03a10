"""DepthFolderDataset (your own data) and the Hypersim / Virtual KITTI 2 readers."""

import os

import cv2
import numpy as np
import pytest

from mmdistilldepth.datasets import DepthFolderDataset, HypersimDataset, VKITTI2Dataset
from mmdistilldepth.datasets.depth_folder_dataset import hypersim_distance_to_depth
from mmdistilldepth.datasets.transforms.depth_augment import RandomDepthCrop
from mmdistilldepth.registry import DATASETS

H, W = 12, 16


def _rgb(path, h=H, w=W, value=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = np.full((h, w, 3), value, np.uint8)
    img[..., 0] = np.arange(w, dtype=np.uint8)[None]
    assert cv2.imwrite(str(path), img)


def _png_mm(path, metres):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), np.round(metres * 1000).astype(np.uint16))


@pytest.fixture()
def folder(tmp_path):
    root = tmp_path / 'photos'
    depth = np.linspace(0.5, 5.0, H * W, dtype=np.float32).reshape(H, W)
    _rgb(root / 'a.jpg')
    _png_mm(root / 'a_depth.png', depth)  # 16-bit PNG in mm beside the image
    _rgb(root / 'sub' / 'b.png')
    np.save(root / 'sub' / 'b_depth.npy', 2 * depth)  # float metres
    _rgb(root / 'c.jpg')  # no depth file
    _rgb(root / 'd.jpg')
    _png_mm(root / 'd_depth.png', np.ones((H // 2, W // 2)))  # wrong size
    _rgb(root / 'e.jpg')
    _png_mm(root / 'e_depth.png', np.zeros((H, W)))  # all invalid
    return root, depth


def test_registered_and_lists_images_only(folder):
    root, _ = folder
    ds = DATASETS.build(dict(type='DepthFolderDataset', data_root=str(root)))
    assert isinstance(ds, DepthFolderDataset)
    names = sorted(os.path.basename(ds.get_data_info(i)['img_path']) for i in range(len(ds)))
    assert names == ['a.jpg', 'b.png', 'c.jpg', 'd.jpg', 'e.jpg']  # no *_depth files


def test_depth_beside_the_image_in_metres(folder):
    root, depth = folder
    ds = DepthFolderDataset(str(root))
    index = {os.path.basename(ds.get_data_info(i)['img_path']): i for i in range(len(ds))}
    a = ds[index['a.jpg']]
    assert a['gt_depth'].dtype == np.float32 and a['gt_depth'].shape == (H, W)
    np.testing.assert_allclose(a['gt_depth'], depth, atol=6e-4)
    b = ds[index['b.png']]
    np.testing.assert_allclose(b['gt_depth'], 2 * depth, rtol=1e-6)
    assert ds.num_skipped == 0


@pytest.mark.parametrize(
    'name,reason',
    [('c.jpg', 'no depth file'), ('d.jpg', 'is 6x8 but its image'), ('e.jpg', 'no valid depth')],
)
def test_bad_samples_are_skipped_counted_and_named(folder, name, reason, caplog):
    root, _ = folder
    ds = DepthFolderDataset(str(root))
    idx = [os.path.basename(ds.get_data_info(i)['img_path']) for i in range(len(ds))].index(name)
    sample = ds[idx]  # a replacement, never a crash
    assert os.path.basename(sample['img_path']) in ('a.jpg', 'b.png')
    assert ds.num_skipped >= 1
    assert any(reason in r for r in ds._unreadable.values())
    # evaluation keeps the image with no valid pixel (the metric counts it invalid)
    test = DepthFolderDataset(str(root), test_mode=True)
    kept = test[idx]
    assert os.path.basename(kept['img_path']) == name and not kept['gt_depth'].any()


def test_list_file_masks_scale_and_invalid_value(tmp_path):
    depth_mm = np.full((H, W), 2500, np.uint16)
    depth_mm[0] = 65535  # the sensor's "no depth"
    mask = np.ones((H, W), np.uint8)
    mask[:, :2] = 0
    _rgb(tmp_path / 'img' / 'x.jpg')
    os.makedirs(tmp_path / 'gt')
    cv2.imwrite(str(tmp_path / 'gt' / 'x.png'), depth_mm)
    cv2.imwrite(str(tmp_path / 'gt' / 'x_m.png'), mask * 255)
    listing = tmp_path / 'train.txt'
    listing.write_text('# image depth mask\nimg/x.jpg gt/x.png gt/x_m.png\n')
    ds = DepthFolderDataset(str(listing), depth_scale=1000.0, invalid_value=65535, with_mask=True)
    sample = ds[0]
    assert sample['gt_depth'][0].max() == 0 and sample['gt_depth'][1:, 2:].min() == 2.5
    assert not sample['gt_valid_mask'][:, :2].any() and sample['gt_valid_mask'][1:, 2:].all()
    # max_depth marks what is farther as invalid
    far = DepthFolderDataset(str(listing), invalid_value=65535, max_depth=2.0, max_refetch=3)
    with pytest.raises(RuntimeError, match='no valid depth pixel'):
        far[0]  # every pixel > 2 m and nothing else to draw: the set itself is wrong
    assert far.num_skipped == 1


def test_parallel_depth_folder_and_unlabeled_mode(tmp_path):
    _rgb(tmp_path / 'rgb' / 's1' / 'f.jpg')
    np.save(_mk(tmp_path / 'depth' / 's1') / 'f.npy', np.full((H, W), 3.0, np.float32))
    ds = DepthFolderDataset(
        str(tmp_path / 'rgb'), depth_dir=str(tmp_path / 'depth'), depth_suffix=''
    )
    assert ds[0]['gt_depth'].min() == 3.0
    unlabeled = DepthFolderDataset(str(tmp_path / 'rgb'), with_depth=False)
    assert 'gt_depth' not in unlabeled[0] and unlabeled[0]['img'].shape == (H, W, 3)


def _mk(path):
    os.makedirs(path, exist_ok=True)
    return path


def test_exr_without_openexr_names_the_fix(tmp_path):
    _rgb(tmp_path / 'q.jpg')
    (tmp_path / 'q_depth.exr').write_bytes(b'v/1\x01 not really an exr')
    ds = DepthFolderDataset(str(tmp_path), depth_exts=('.exr',), test_mode=True)
    assert not ds[0]['gt_depth'].any()
    reason = next(iter(ds._unreadable.values()))
    assert '.exr' in reason and '.npy' in reason


def test_hypersim_layout_ray_distance_to_planar_depth(tmp_path):
    h5py = pytest.importorskip('h5py')
    scene = tmp_path / 'ai_001_001' / 'images'
    _rgb(scene / 'scene_cam_00_final_preview' / 'frame.0000.tonemap.jpg')
    _mk(scene / 'scene_cam_00_geometry_hdf5')
    distance = np.full((H, W), 4.0, np.float32)
    distance[0, 0] = np.nan  # no geometry
    distance[1, 1] = 30.0  # beyond the 20 m of the Hypersim model
    with h5py.File(scene / 'scene_cam_00_geometry_hdf5' / 'frame.0000.depth_meters.hdf5', 'w') as f:
        f['dataset'] = distance.astype(np.float16)
    ds = HypersimDataset(str(tmp_path))
    assert len(ds) == 1
    depth = ds[0]['gt_depth']
    # independent check: the pixel grid of DAv2's conversion, at this size
    focal = 886.81 * W / 1024
    xs = np.linspace(-0.5 * W + 0.5, 0.5 * W - 0.5, W)[None].repeat(H, 0)
    ys = np.linspace(-0.5 * H + 0.5, 0.5 * H - 0.5, H)[:, None].repeat(W, 1)
    planar = 4.0 * focal / np.sqrt(xs**2 + ys**2 + focal**2)
    valid = depth > 0
    assert not valid[0, 0] and not valid[1, 1] and valid.sum() == H * W - 2
    np.testing.assert_allclose(depth[valid], planar[valid], rtol=1e-5)
    assert depth[valid].max() < 4.0  # planar depth is shorter than the ray off-centre
    np.testing.assert_allclose(
        hypersim_distance_to_depth(np.full((768, 1024), 2.0))[383:385, 511:513], 2.0, rtol=1e-6
    )


def test_vkitti2_layout_centimetres_and_sky(tmp_path):
    rgb = tmp_path / 'vkitti_2.0.3_rgb' / 'Scene01' / 'clone' / 'frames' / 'rgb' / 'Camera_0'
    dep = tmp_path / 'vkitti_2.0.3_depth' / 'Scene01' / 'clone' / 'frames' / 'depth' / 'Camera_0'
    _rgb(rgb / 'rgb_00000.jpg')
    _rgb(rgb / 'rgb_00001.jpg')
    cm = np.full((H, W), 1234, np.uint16)
    cm[:3] = 65535  # sky: 655.35 m
    _mk(dep)
    cv2.imwrite(str(dep / 'depth_00000.png'), cm)
    cv2.imwrite(str(dep / 'depth_00001.png'), cm)
    ds = VKITTI2Dataset(str(tmp_path))
    assert len(ds) == 2 and ds.get_data_info(1)['depth_path'].endswith('depth_00001.png')
    depth = ds[0]['gt_depth']
    assert depth[:3].max() == 0 and np.allclose(depth[3:], 12.34)


def test_random_depth_crop_keeps_image_and_depth_together():
    np.random.seed(0)
    img = np.zeros((28, 70, 3), np.uint8)
    img[..., 0] = np.arange(70, dtype=np.uint8)[None]
    depth = np.arange(70, dtype=np.float32)[None].repeat(28, 0) + 1
    mask = depth > 30
    crop = RandomDepthCrop(size=28, flip_prob=0.5)
    flips = set()
    for _ in range(8):
        out = crop(dict(img=img, gt_depth=depth, gt_valid_mask=mask))
        assert out['img'].shape == (28, 28, 3) and out['gt_depth'].shape == (28, 28)
        np.testing.assert_array_equal(out['img'][..., 0] + 1, out['gt_depth'])
        np.testing.assert_array_equal(out['gt_valid_mask'], out['gt_depth'] > 30)
        flips.add(out['flip'])
    assert flips == {True, False}
    # a smaller image is resized up (nearest for depth: no new values)
    small = crop(dict(img=img[:14, :20], gt_depth=depth[:14, :20]))
    assert small['img'].shape[:2] == (28, 28)
    assert set(np.unique(small['gt_depth'])) <= set(np.unique(depth[:14, :20]))
