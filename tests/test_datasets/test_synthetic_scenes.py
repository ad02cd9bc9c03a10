import numpy as np
import pytest

from mmdistilldepth.datasets import SyntheticScenes, render_scene


def test_render_is_deterministic_and_varies():
    a = render_scene(3, 7, 64, 80)
    b = render_scene(3, 7, 64, 80)
    c = render_scene(3, 8, 64, 80)
    for key in ('img', 'depth', 'valid', 'intrinsics'):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a['depth'], c['depth'])


@pytest.mark.parametrize('kind', ['room', 'street'])
def test_render_shapes_ranges(kind):
    s = render_scene(0, 1, 48, 64, kind=kind)
    assert s['img'].shape == (48, 64, 3) and s['img'].dtype == np.uint8
    assert s['depth'].shape == (48, 64) and s['depth'].dtype == np.float32
    assert s['valid'].dtype == bool
    assert np.all(s['depth'][s['valid']] > 0) and np.all(s['depth'][~s['valid']] == 0)
    assert s['depth'][s['valid']].max() <= 80.0
    assert s['img'].std() > 5  # textured and shaded, not flat
    if kind == 'room':
        assert s['valid'].all()  # a closed room has no sky


def test_depth_is_z_depth_of_a_plane():
    """Pixels on the street's ground plane back-project onto one plane (y = 0)."""
    for index in range(20):
        s = render_scene(11, index, 60, 80, kind='street')
        k = s['intrinsics']
        ys, xs = np.nonzero(s['valid'])
        z = s['depth'][ys, xs]
        pts = np.stack(
            [(xs + 0.5 - k[0, 2]) / k[0, 0] * z, (ys + 0.5 - k[1, 2]) / k[1, 1] * z, z], 1
        )
        # the lowest image rows see the ground: fit a plane to them, check planarity
        bottom = ys >= 56
        if bottom.sum() < 50:
            continue
        p = pts[bottom]
        centered = p - p.mean(0)
        sv = np.linalg.svd(centered, compute_uv=False)
        if sv[2] / sv[0] < 1e-3:  # bottom rows all on the ground (no object in the way)
            return
    pytest.fail('no street scene whose bottom rows lie on one plane')


def test_dataset_sample():
    ds = SyntheticScenes(num_samples=5, height=32, width=48, seed=1)
    assert len(ds) == 5
    sample = ds[2]
    assert sample['img'].shape == (32, 48, 3)
    assert sample['gt_depth'].shape == (32, 48)
    assert sample['img_path'] == 'synthetic://1/2'
    np.testing.assert_array_equal(sample['gt_depth'], render_scene(1, 2, 32, 48)['depth'])


def test_haze_fades_far_surfaces_towards_the_air_and_keeps_the_geometry():
    """Aerial perspective: far street pixels take the sky's colour; depth is unchanged."""
    found = 0
    for index in range(10):
        hazy = render_scene(5, index, 64, 96, kind='street')
        clear = render_scene(5, index, 64, 96, kind='street', haze=False)
        for key in ('depth', 'valid', 'intrinsics'):
            np.testing.assert_array_equal(hazy[key], clear[key])
        far = hazy['valid'] & (hazy['depth'] > 60)
        near = hazy['valid'] & (hazy['depth'] < 5)
        if far.sum() < 5 or near.sum() < 5:
            continue
        found += 1
        sky = hazy['img'][~hazy['valid']].astype(float).mean(0)
        # far away, well below the 20-60 m visibility, little but the air is left
        gap_far = np.abs(hazy['img'][far] - sky).mean()
        assert gap_far < 0.5 * np.abs(clear['img'][far] - sky).mean()
        # near surfaces keep most of their own colour
        kept = 1 - np.abs(hazy['img'][near].astype(float) - clear['img'][near]).mean() / 255
        assert kept > 0.8
    assert found >= 2
