"""CrossContextCrops draws from (seed, sample index, draws of that sample), nothing else."""

import numpy as np
import pytest
import torch

from mmdistilldepth.datasets import CrossContextCrops, ResizeCanvas
from mmdistilldepth.datasets.transforms.resize_canvas import cover_window


def _boxes(transform, index, shape=(90, 120)):
    out = transform(dict(img=np.zeros((*shape, 3), np.uint8), sample_idx=index))
    return np.concatenate([out['shared_box'][None], out['local_boxes']])


def test_same_sample_and_draw_give_the_same_crops_whatever_np_random_does():
    a, b = CrossContextCrops(seed=3), CrossContextCrops(seed=3)
    np.random.seed(0)
    first = [_boxes(a, i) for i in (5, 7, 5)]
    np.random.seed(123)
    np.random.random(1000)
    # another order of samples: each sample's n-th draw is still the same
    second = {i: _boxes(b, i) for i in (7, 5)}
    second_again = _boxes(b, 5)
    np.testing.assert_array_equal(first[0], second[5])
    np.testing.assert_array_equal(first[1], second[7])
    np.testing.assert_array_equal(first[2], second_again)
    assert not np.allclose(first[0], first[2])  # the second draw of sample 5 differs
    assert not np.allclose(first[0], first[1])
    assert not np.allclose(_boxes(CrossContextCrops(seed=4), 5), first[0])


def test_seed_defaults_to_the_run_seed():
    torch.manual_seed(11)
    assert CrossContextCrops().seed == 11  # what MMEngine's runner set before building
    np.testing.assert_array_equal(
        _boxes(CrossContextCrops(), 2), _boxes(CrossContextCrops(seed=11), 2)
    )


def test_counts_survive_a_copy_into_a_worker():
    import copy

    transform = CrossContextCrops(seed=0)
    _boxes(transform, 3)
    worker = copy.deepcopy(transform)  # what a forked data-loading process gets
    np.testing.assert_array_equal(_boxes(worker, 3), _boxes(transform, 3))


@pytest.mark.parametrize('shape', [(1, 1), (13, 13), (200, 20000), (20000, 200), (480, 640)])
def test_tiny_and_panoramic_images_make_valid_training_samples(shape):
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    out = ResizeCanvas((56, 84))(dict(img=image, gt_depth=np.ones(shape, np.float32)))
    assert out['img'].shape == (56, 84, 3) and out['gt_depth'].shape == (56, 84)
    top, left, h, w = cover_window(shape, (56, 84))
    assert h == shape[0] or w == shape[1]  # the window spans the image one way
    assert top == (shape[0] - h) // 2 and left == (shape[1] - w) // 2
    out = CrossContextCrops(seed=0, num_local=3)(dict(out, sample_idx=0))
    for box in [out['shared_box'], *out['local_boxes']]:
        assert 0 <= box[0] < box[2] <= 84 + 1e-3 and 0 <= box[1] < box[3] <= 56 + 1e-3


def test_resize_canvas_keeps_the_middle_of_a_panorama():
    image = np.zeros((100, 1000, 3), np.uint8)
    image[:, 450:550] = 255  # the middle tenth is white
    out = ResizeCanvas((50, 50))(dict(img=image))['img']
    assert out.min() == 255  # the canvas is the centred 100x100 window, all white
