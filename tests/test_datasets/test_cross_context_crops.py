"""CrossContextCrops: the paper's views in original pixels (section 4.1) and the metainfo."""

import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from mmdistilldepth.datasets import UnlabeledImageDataset
from mmdistilldepth.datasets.transforms.cross_context_crops import (
    CrossContextCrops,
    _box_overlap,
    global_view_shape,
)
from mmdistilldepth.registry import TRANSFORMS
from mmdistilldepth.utils import register_all_modules

register_all_modules()
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MISSION = osp.join(ROOT, 'configs', 'cross_context_dav2_l.py')


def _mission_pipeline():
    return Config.fromfile(MISSION).train_dataloader.dataset.pipeline


def _original(results):
    """The boxes back in original pixels: ``box / scale_factor``."""
    scale = np.array(results['scale_factor'] * 2)
    return results['shared_box'] / scale, results['local_boxes'] / scale


@pytest.mark.parametrize('shape', [(1500, 2250), (2250, 1500)])
def test_mission_config_views_in_original_pixels(shape):
    """The issue's acceptance: 1500x2250 and its portrait through the mission config."""
    crops = TRANSFORMS.build(_mission_pipeline()[0])
    h, w = shape
    image = np.zeros((h, w, 3), np.uint8)
    sides = []
    for i in range(3000):
        r = crops(dict(img=image, sample_idx=i))
        assert r['ori_shape'] == (h, w) and not r['shared_clamped']
        shared, local = _original(r)
        side_w, side_h = shared[2] - shared[0], shared[3] - shared[1]
        assert abs(side_w - side_h) < 0.5  # square
        assert shared[0] > -0.5 and shared[1] > -0.5
        assert shared[2] < w + 0.5 and shared[3] < h + 0.5
        sides.append(side_w)
        assert local.shape == (4, 4)
        np.testing.assert_allclose(local[:, 2:] - local[:, :2], 560, atol=4)
        assert (local[:, :2] > -0.5).all() and (local[:, 2] < w + 0.5).all()
        assert (local[:, 3] < h + 0.5).all()
    assert min(sides) < 650 and max(sides) > 1494  # both ends of [644, 1500] are used
    assert 644 - 0.5 < min(sides) and max(sides) < 1500 + 0.5
    # the student sees the whole image: aspect kept, sides multiples of 14, area ~ 560^2
    gh, gw = r['img_shape']
    assert gh % 14 == 0 and gw % 14 == 0
    assert (gh > gw) == (h > w) and abs(gh * gw / 560**2 - 1) < 0.05
    covered_w, covered_h = gw / r['scale_factor'][0], gh / r['scale_factor'][1]
    assert covered_w * covered_h >= 0.98 * h * w


def test_mission_dataset_metainfo(tmp_path):
    """The mission config's dataset sends the original image and the metainfo contract."""
    cv2.imwrite(str(tmp_path / 'a.jpg'), np.full((1500, 2250, 3), 128, np.uint8))
    dataset = UnlabeledImageDataset(data_root=str(tmp_path), pipeline=_mission_pipeline())
    sample = dataset[0]
    meta = sample['data_samples'].metainfo
    assert sample['inputs'].shape == (3, 1500, 2250)  # decoded once, not resized
    assert meta['ori_shape'] == (1500, 2250) and meta['img_shape'] == (462, 686)
    assert meta['scale_factor'] == pytest.approx((686 / 2250, 462 / 1500))
    assert meta['shared_box'].shape == (4,) and meta['local_boxes'].shape == (4, 4)
    assert meta['shared_clamped'] is False


def test_local_patches_overlap_on_a_grid():
    crops = CrossContextCrops(global_size=560, num_local=4, local_overlap=0.25, seed=0)
    for i in range(50):
        _, local = _original(crops(dict(img=np.zeros((1500, 2250, 3), np.uint8), sample_idx=i)))
        # 2x2: neighbours along x and along y overlap by 25% of a patch (stride 420 px)
        assert _box_overlap(local[0], local[1]) == pytest.approx(0.25, abs=0.01)
        assert _box_overlap(local[0], local[2]) == pytest.approx(0.25, abs=0.01)
        np.testing.assert_allclose(local[1, 0] - local[0, 0], 420, atol=1)


@pytest.mark.parametrize('shape', [(1, 1), (300, 400), (559, 2000), (4200, 300), (4500, 6000)])
def test_small_and_huge_images(shape):
    crops = CrossContextCrops(global_size=560, num_local=4, seed=0)
    h, w = shape
    r = crops(dict(img=np.zeros((h, w, 3), np.uint8), sample_idx=0))
    shared, local = _original(r)
    short = min(h, w)
    assert r['shared_clamped'] == (short < 644)
    if short < 644:  # the whole shortest side
        assert shared[2] - shared[0] == pytest.approx(short, abs=0.01)
    side = min(560, short)  # patches: 560 px, or the shortest side on a smaller image
    np.testing.assert_allclose(local[:, 2:] - local[:, :2], side, atol=0.01)
    for box in [shared, *local]:
        assert box[0] > -0.01 and box[1] > -0.01 and box[2] < w + 0.01 and box[3] < h + 0.01
    gh, gw = r['img_shape']
    assert gh % 14 == 0 and gw % 14 == 0 and gh >= 14 and gw >= 14


def test_cap_of_the_decoded_size_is_said_in_the_metainfo():
    crops = CrossContextCrops(global_size=560, max_side=3000, seed=0)
    r = crops(dict(img=np.zeros((4500, 6000, 3), np.uint8), gt_depth=np.ones((4500, 6000))))
    assert r['img'].shape == (2250, 3000, 3) and r['gt_depth'].shape == (2250, 3000)
    assert r['ori_shape'] == (2250, 3000) and r['capped_from'] == (4500, 6000)
    assert 'capped_from' not in CrossContextCrops(seed=0)(dict(img=np.zeros((50, 60, 3))))


def test_global_view_shape():
    assert global_view_shape((1500, 2250), 560) == (462, 686)
    assert global_view_shape((2250, 1500), 560) == (686, 462)
    assert global_view_shape((168, 168), 112) == (112, 112)
    assert global_view_shape((300, 20000), None) == (294, 20006)
    assert global_view_shape((1500, 2250), (256, 256)) == (256, 256)


def test_old_arguments_say_what_replaced_them():
    with pytest.raises(TypeError, match='shared_side'):
        CrossContextCrops(shared_scale=(0.5, 1.0))
    with pytest.raises(TypeError, match='local_size'):
        CrossContextCrops(local_scale=(0.4, 0.6))
    with pytest.raises(ValueError, match='shared_side'):
        CrossContextCrops(shared_side=(644, 100))
