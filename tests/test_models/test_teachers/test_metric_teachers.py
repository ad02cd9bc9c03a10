"""Metric teachers: SimulatedTeacher(metric=True) and DepthAnythingTeacher on a metric model."""

import torch

from mmdistilldepth.registry import MODELS

TINY = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=2, num_heads=2, layer_idx=(0, 1, 1, 1)),
    features=16,
    out_channels=(8, 16, 32, 32),
)


def _depth(seed, b=2, size=32):
    gen = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(2.0, 9.0, size).view(1, 1, 1, size)
    return ramp * (1 + 0.5 * torch.rand(b, 1, 1, 1, generator=gen)).expand(b, 1, size, size)


def test_simulated_metric_teacher_predicts_depth_without_an_unknown_affine():
    teacher = MODELS.build(
        dict(type='SimulatedTeacher', metric=True, internal_size=32, noise_amplitude=0.0)
    )
    relative = MODELS.build(dict(type='SimulatedTeacher', internal_size=32, noise_amplitude=0.0))
    assert teacher.pred_space == 'depth' and relative.pred_space == 'disparity'
    images = torch.rand(2, 3, 32, 32)
    for seed in range(3):  # every view, every call: the metric depth itself
        gt = _depth(seed)
        torch.testing.assert_close(teacher.predict(images, gt_depth=gt), gt, rtol=1e-4, atol=1e-4)
    gt = _depth(0)
    disparity = relative.predict(images, gt_depth=gt)
    assert not torch.allclose(disparity, 1 / gt, rtol=1e-2)  # relative: scaled and shifted


def test_simulated_metric_teacher_has_the_crop_zoom_flaw_and_a_range():
    teacher = MODELS.build(dict(type='SimulatedTeacher', metric=True, noise_amplitude=0.0))
    gt = _depth(1)
    images = torch.rand(2, 3, 32, 32)
    plain = teacher.predict(images, gt_depth=gt)
    zoomed = teacher.predict(images, gt_depth=gt, view_zoom=torch.tensor([2.0, 1.0]))
    torch.testing.assert_close(zoomed[0], plain[0] / 2)
    torch.testing.assert_close(zoomed[1], plain[1])
    sky = gt.clone()
    sky[..., :4, :] = 0  # no depth: as far as the teacher sees
    assert float(teacher.predict(images, gt_depth=sky)[..., :2, :].min()) == teacher.max_depth


def test_depth_anything_teacher_with_a_metric_model_returns_metric_depth():
    teacher = MODELS.build(
        dict(type='DepthAnythingTeacher', model=dict(TINY, max_depth=20.0), autocast_dtype=None)
    )
    assert teacher.pred_space == 'depth'
    out = teacher.predict(torch.rand(1, 3, 30, 44))
    assert out.shape == (1, 1, 30, 44)
    assert float(out.min()) > 0 and float(out.max()) < 20.0
    relative = MODELS.build(dict(type='DepthAnythingTeacher', model=TINY))
    assert relative.pred_space == 'disparity'
