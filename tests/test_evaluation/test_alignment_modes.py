"""Evaluation without alignment (``none``), with a median scale, and ``pred_space``."""

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from mmdistilldepth.evaluation.functional import (
    ALIGNMENT_MODES,
    align_depth,
    evaluate_depth,
    median_value,
    to_alignment_space,
)
from mmdistilldepth.evaluation.metrics import AffineInvariantDepthMetric
from mmdistilldepth.structures import DepthDataSample


def _gt(seed=0, shape=(30, 40)):
    gen = torch.Generator().manual_seed(seed)
    gt = 1.0 + 3.0 * torch.rand(shape, generator=gen)
    gt[:3] = 0  # missing
    return gt


def test_modes_are_listed():
    assert set(ALIGNMENT_MODES) == {'least_square', 'least_square_disparity', 'median', 'none'}


@pytest.mark.parametrize('n', [1, 2, 7, 8])
def test_median_is_numpys(n):
    x = torch.randn(n)
    assert float(median_value(x)) == pytest.approx(float(np.median(x.double().numpy())), abs=1e-12)


def test_none_compares_metric_depth_as_it_is():
    gt = _gt()
    assert float(evaluate_depth(gt.clone(), gt, 'nyu', 'none')['abs_rel']) < 1e-6
    # twice too far: AbsRel is exactly 1 without alignment, 0 after any fit
    assert float(evaluate_depth(2 * gt, gt, 'nyu', 'none')['abs_rel']) == pytest.approx(1.0)
    assert float(evaluate_depth(2 * gt, gt, 'nyu', 'median')['abs_rel']) < 1e-6
    assert float(evaluate_depth(2 * gt, gt, 'nyu', 'least_square')['abs_rel']) < 1e-5
    _, scale, shift = align_depth(2 * gt, gt, gt > 0, 'none')
    assert float(scale) == 1.0 and float(shift) == 0.0


def test_median_scale_only():
    gt = _gt(1)
    pred = 3.0 * gt + 0.5  # a shift the median scale cannot remove
    _, scale, shift = align_depth(pred, gt, gt > 0, 'median')
    valid = gt > 0
    assert float(scale) == pytest.approx(
        float(np.median(gt[valid].numpy()) / np.median(pred[valid].numpy())), rel=1e-6
    )
    assert float(shift) == 0.0
    assert float(evaluate_depth(pred, gt, 'nyu', 'median')['abs_rel']) > 1e-3


def test_pred_space_converts_to_the_alignment_space():
    gt = _gt(2)
    disparity = torch.where(gt > 0, 1.0 / gt.clamp(min=1e-6), 0.0)
    # a disparity model evaluated without alignment is inverted first
    inverted = evaluate_depth(disparity, gt, 'nyu', 'none', pred_space='disparity')
    assert float(inverted['abs_rel']) < 1e-5
    assert float(evaluate_depth(disparity, gt, 'nyu', 'none')['abs_rel']) > 0.5  # as given
    # a metric depth model under the disparity protocol is inverted too
    metric = evaluate_depth(gt, gt, 'nyu', 'least_square_disparity', pred_space='depth')
    assert float(metric['abs_rel']) < 1e-5
    assert torch.equal(to_alignment_space(gt, 'depth', 'least_square'), gt)
    with pytest.raises(ValueError, match='pred_space'):
        to_alignment_space(gt, 'inverse', 'none')


def _sample(pred, gt, pred_space=None):
    sample = DepthDataSample(metainfo=dict(img_path='a.png'))
    sample.pred_depth = PixelData(data=pred[None])
    sample.gt_depth = PixelData(data=gt[None])
    if pred_space:
        sample.set_metainfo(dict(pred_space=pred_space))
    return sample.to_dict()


def test_metric_reads_pred_space_from_the_sample():
    gt = _gt(3)
    disparity = torch.where(gt > 0, 1.0 / gt.clamp(min=1e-6), 0.0)
    metric = AffineInvariantDepthMetric(benchmark='nyu', alignment='none')
    metric.process({}, [_sample(gt * 1.0, gt, 'depth'), _sample(disparity, gt, 'disparity')])
    assert metric.compute_metrics(metric.results)['abs_rel'] < 1e-5
    # the evaluator's own pred_space is the fallback for samples that do not say
    metric = AffineInvariantDepthMetric(benchmark='nyu', alignment='none', pred_space='disparity')
    metric.process({}, [_sample(disparity, gt)])
    assert metric.compute_metrics(metric.results)['abs_rel'] < 1e-5
    with pytest.raises(ValueError, match='pred_space'):
        AffineInvariantDepthMetric(pred_space='metric')
    with pytest.raises(ValueError, match='alignment'):
        AffineInvariantDepthMetric(alignment='scale')
