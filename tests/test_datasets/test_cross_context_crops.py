import numpy as np
import pytest

from mmdistilldepth.datasets.transforms.cross_context_crops import CrossContextCrops, _box_overlap


def test_boxes_inside_and_sized():
    np.random.seed(0)
    t = CrossContextCrops(
        shared_scale=(0.5, 0.8), num_local=3, local_scale=(0.3, 0.5), local_min_overlap=0.3
    )
    for _ in range(50):
        r = t(dict(img=np.zeros((120, 200, 3), np.uint8)))
        s, loc = r['shared_box'], r['local_boxes']
        assert loc.shape == (3, 4)
        for box in [s, *loc]:
            assert box[0] >= 0 and box[1] >= 0 and box[2] <= 200 + 1e-4 and box[3] <= 120 + 1e-4
        side = s[2] - s[0]
        assert 0.5 * 120 - 1e-3 <= side <= 0.8 * 120 + 1e-3
        assert np.isclose(s[2] - s[0], s[3] - s[1])  # square by default, as in the paper
        for a, b in zip(loc[1:], loc[:-1]):
            assert _box_overlap(a, b) >= 0.3 - 1e-6


def test_aspect_range_and_validation():
    np.random.seed(1)
    t = CrossContextCrops(shared_aspect=(0.5, 2.0), num_local=0)
    aspects = []
    for _ in range(100):
        s = t(dict(img=np.zeros((300, 300, 3), np.uint8)))['shared_box']
        aspects.append((s[2] - s[0]) / (s[3] - s[1]))
    assert min(aspects) < 0.8 and max(aspects) > 1.25
    with pytest.raises(ValueError, match='shared_scale'):
        CrossContextCrops(shared_scale=(0.5, 1.5))
