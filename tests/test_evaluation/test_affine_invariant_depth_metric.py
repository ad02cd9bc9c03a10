"""AffineInvariantDepthMetric: wiring to the functional core, averaging, invalid images."""

import csv
import json
import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.structures import PixelData

from mmdistilldepth.evaluation import AffineInvariantDepthMetric, evaluate_depth
from mmdistilldepth.evaluation.functional import METRIC_NAMES
from mmdistilldepth.registry import METRICS
from mmdistilldepth.structures import DepthDataSample
from tests.conftest import require_fixture


def _sample(pred, gt, mask=None, img_path='a.png', sample_idx=0):
    sample = DepthDataSample(metainfo=dict(img_path=img_path, sample_idx=sample_idx))
    sample.pred_depth = PixelData(data=pred[None])
    sample.gt_depth = PixelData(data=gt[None])
    if mask is not None:
        sample.gt_valid_mask = PixelData(data=mask[None])
    return sample


def _scene(seed, shape=(48, 64)):
    gen = torch.Generator().manual_seed(seed)
    gt = torch.rand(shape, generator=gen) * 6 + 1
    pred = 1.0 / gt + 0.05 * torch.rand(shape, generator=gen)  # noisy disparity
    return pred, gt


def test_registered_and_validates_arguments():
    metric = METRICS.build(dict(type='AffineInvariantDepthMetric', benchmark='nyu'))
    assert isinstance(metric, AffineInvariantDepthMetric)
    with pytest.raises(ValueError, match='alignment'):
        AffineInvariantDepthMetric(alignment='scale_only')
    with pytest.raises(KeyError, match='known benchmarks'):
        AffineInvariantDepthMetric(benchmark='nyu2')


def test_matches_marigold_dataset_mean_through_an_evaluator():
    expected = json.load(open(require_fixture('eval_reference', 'expected.json')))
    arrays = np.load(require_fixture('eval_reference', 'inputs.npz'))
    run = next(
        r
        for r in expected['runs']
        if r['dataset'] == 'nyu' and r['alignment'] == 'least_square_disparity'
    )
    evaluator = Evaluator(AffineInvariantDepthMetric(benchmark='nyu'))
    samples = [
        _sample(
            torch.from_numpy(arrays[f'{c}__pred']),
            torch.from_numpy(arrays[f'{c}__gt']),
            img_path=c,
            sample_idx=i,
        )
        for i, c in enumerate(run['cases'])
    ]
    evaluator.process(samples[:2])  # two batches, as a dataloader would give them
    evaluator.process(samples[2:])
    result = evaluator.evaluate(len(samples))
    assert result['num_invalid'] == 0
    assert set(result) == set(METRIC_NAMES) | {'num_invalid'}
    assert result['abs_rel'] == pytest.approx(run['mean']['abs_relative_difference'], rel=1e-5)
    assert result['delta1'] == pytest.approx(run['mean']['delta1_acc'], abs=1e-5)
    assert result['silog_rmse'] == pytest.approx(run['mean']['silog_rmse'], rel=1e-5)


def test_prediction_is_resized_to_the_ground_truth():
    pred, gt = _scene(0, (60, 80))
    small = F.interpolate(pred[None, None], size=(37, 49), mode='bilinear', align_corners=True)[
        0, 0
    ]
    metric = AffineInvariantDepthMetric(benchmark='scannet')
    metric.process(None, [_sample(small, gt).to_dict()])  # the evaluator's dict form
    result = metric.evaluate(1)
    back = F.interpolate(small[None, None], size=(60, 80), mode='bilinear', align_corners=True)[
        0, 0
    ]
    want = evaluate_depth(back, gt, 'scannet', 'least_square_disparity')
    for name in METRIC_NAMES:
        assert result[name] == pytest.approx(want[name].item(), rel=1e-6)


def test_averages_per_image_and_counts_invalid_images(tmp_path):
    logger = MMLogger.get_current_instance()
    records = []

    class Catch(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Catch()
    logger.addHandler(handler)
    try:
        (p0, g0), (p1, g1) = _scene(1), _scene(2, (30, 40))
        empty = torch.zeros(20, 20)
        csv_path = tmp_path / 'per_image.csv'
        metric = AffineInvariantDepthMetric(benchmark='scannet', per_image_csv=str(csv_path))
        metric.process(
            None,
            [
                _sample(p0, g0, img_path='x0.png', sample_idx=0),
                _sample(torch.rand(20, 20), empty, img_path='hole.png', sample_idx=1),
                _sample(p1, g1, img_path='x1.png', sample_idx=2),
            ],
        )
        result = metric.evaluate(3)
    finally:
        logger.removeHandler(handler)
    m0 = evaluate_depth(p0, g0, 'scannet', 'least_square_disparity')
    m1 = evaluate_depth(p1, g1, 'scannet', 'least_square_disparity')
    assert result['num_invalid'] == 1
    for name in METRIC_NAMES:  # mean over images, not over pixels; never NaN
        assert result[name] == pytest.approx((m0[name].item() + m1[name].item()) / 2, rel=1e-6)
    assert any('hole.png' in msg and '1 of 3' in msg for msg in records)
    rows = list(csv.DictReader(open(csv_path)))
    assert [r['img_path'] for r in rows] == ['x0.png', 'hole.png', 'x1.png']
    assert rows[1]['abs_rel'] == 'nan'
    assert float(rows[2]['abs_rel']) == pytest.approx(m1['abs_rel'].item())
    assert [r['sample_idx'] for r in metric.per_image_results] == [0, 1, 2]


def test_benchmark_and_crop_come_from_the_dataset_meta():
    pred, gt = _scene(3, (352, 1216))
    metric = AffineInvariantDepthMetric()
    metric.dataset_meta = dict(benchmark='kitti', eval_crop='kitti_garg')
    metric.process(None, [_sample(pred, gt)])
    result = metric.evaluate(1)
    want = evaluate_depth(pred, gt, 'kitti', 'least_square_disparity', crop='kitti_garg')
    eigen = evaluate_depth(pred, gt, 'kitti', 'least_square_disparity')
    assert result['abs_rel'] == pytest.approx(want['abs_rel'].item(), rel=1e-6)
    assert want['abs_rel'].item() != pytest.approx(eigen['abs_rel'].item(), rel=1e-6)

    metric = AffineInvariantDepthMetric()
    metric.dataset_meta = dict(classes=None)
    with pytest.raises(KeyError, match='benchmark'):
        metric.process(None, [_sample(pred, gt)])


def test_diode_uses_the_provided_mask():
    pred, gt = _scene(4)
    mask = torch.zeros_like(gt, dtype=torch.bool)
    mask[10:30, 10:40] = True
    metric = AffineInvariantDepthMetric(benchmark='diode', alignment='least_square')
    metric.process(None, [_sample(pred, gt, mask)])
    result = metric.evaluate(1)
    want = evaluate_depth(pred, gt, 'diode', 'least_square', valid_mask=mask)
    assert result['rmse'] == pytest.approx(want['rmse'].item(), rel=1e-6)
