"""mmdistilldepth/datasets/transforms/geometric.py: the KB crop and the model resize."""

import numpy as np
import pytest

from mmdistilldepth.datasets.transforms import KBCrop, LoadRGBImage, ResizeForDepthModel
from tests.conftest import require_fixture


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
    official ``image2tensor`` output recorded in the DAv2 fixture.
    """
    path = require_fixture('dav2_vits', 'input.png')
    want = np.load(require_fixture('dav2_vits', 'input_tensor.npy'))
    out = ResizeForDepthModel()(LoadRGBImage()(dict(img_path=path)))
    assert out['img'].dtype == np.float32 and out['img_shape'] == (518, 686)
    assert out['ori_shape'] == (480, 640)
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    got = ((out['img'] - mean) / std).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize(
    'shape,want',
    [
        ((480, 640), (518, 686)),
        ((352, 1216), (518, 1792)),
        ((768, 1024), (518, 686)),
        ((600, 400), (784, 518)),
        ((518, 518), (518, 518)),
    ],
)
def test_resize_sizes(shape, want):
    out = ResizeForDepthModel()(dict(img=np.zeros((*shape, 3), np.uint8)))
    assert out['img'].shape[:2] == want
    assert all(side % 14 == 0 and side >= 518 for side in want)
