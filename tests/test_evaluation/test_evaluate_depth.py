"""The functional evaluation core against Marigold's own eval.py numbers, and its rules."""

import json

import numpy as np
import pytest
import torch

from mmdistilldepth.evaluation.functional import (
    METRIC_NAMES,
    NoValidPixelError,
    align_depth,
    align_to_benchmark,
    benchmark_valid_mask,
    crop_mask,
    evaluate_depth,
    fit_scale_shift,
    subsample_for_fit,
)
from tests.conftest import require_fixture

#: our metric name -> the name in Marigold's per_sample_metrics.csv
MARIGOLD_NAMES = dict(
    abs_rel='abs_relative_difference',
    sq_rel='squared_relative_difference',
    rmse='rmse_linear',
    rmse_log='rmse_log',
    log10='log10',
    delta1='delta1_acc',
    delta2='delta2_acc',
    delta3='delta3_acc',
    i_rmse='i_rmse',
    silog_rmse='silog_rmse',
)
DELTAS = ('delta1', 'delta2', 'delta3')


@pytest.fixture(scope='module')
def reference():
    expected = json.load(open(require_fixture('eval_reference', 'expected.json')))
    arrays = np.load(require_fixture('eval_reference', 'inputs.npz'))
    return expected, {k: torch.from_numpy(arrays[k]) for k in arrays.files}


def _runs():
    # (dataset, alignment) pairs recorded in the fixture; the cases are read from it.
    return [(d, a) for d in ('nyu', 'kitti') for a in ('least_square', 'least_square_disparity')]


def _find_run(expected, dataset, alignment):
    runs = [r for r in expected['runs'] if r['dataset'] == dataset and r['alignment'] == alignment]
    assert len(runs) == 1
    return runs[0]


@pytest.mark.parametrize('dataset,alignment', _runs())
def test_conformance_with_marigold_eval(reference, dataset, alignment):
    expected, arrays = reference
    run = _find_run(expected, dataset, alignment)
    assert run['cases'], 'the fixture lists no case for this run'
    means = {name: [] for name in METRIC_NAMES}
    for case in run['cases']:
        gt, pred = arrays[f'{case}__gt'], arrays[f'{case}__pred']
        record = run['per_case'][case]
        n_valid = expected['cases'][case]['n_valid']

        aligned = align_to_benchmark(pred, gt, dataset, alignment)
        assert torch.equal(aligned.valid_mask, arrays[f'{case}__valid_mask'])
        assert int(aligned.valid_mask.sum()) == n_valid
        assert aligned.scale.item() == pytest.approx(record['scale'], rel=1e-6)
        assert aligned.shift.item() == pytest.approx(record['shift'], rel=1e-6, abs=1e-9)

        metrics = evaluate_depth(pred, gt, dataset, alignment)
        assert set(metrics) == set(METRIC_NAMES)
        for name, value in metrics.items():
            want = record['metrics'][MARIGOLD_NAMES[name]]
            if name in DELTAS:  # within one pixel
                assert abs(value.item() - want) <= 1.0 / n_valid, (case, name)
            else:
                assert value.item() == pytest.approx(want, rel=1e-5), (case, name)
            means[name].append(value.item())
    for name, values in means.items():
        assert np.mean(values) == pytest.approx(run['mean'][MARIGOLD_NAMES[name]], rel=1e-5)


def test_least_square_recovers_an_affine_depth():
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(40, 50, generator=gen) * 5 + 1
    pred = (gt - 0.3) / 2.5
    mask = torch.ones_like(gt, dtype=torch.bool)
    depth, scale, shift = align_depth(pred, gt, mask, 'least_square')
    assert scale.item() == pytest.approx(2.5, rel=1e-6)
    assert shift.item() == pytest.approx(0.3, rel=1e-5)
    torch.testing.assert_close(depth, gt, rtol=1e-5, atol=1e-5)


def test_disparity_alignment_fits_inverse_depth_on_positive_pixels():
    gen = torch.Generator().manual_seed(1)
    gt = torch.rand(30, 40, generator=gen) * 5 + 1
    pred = 4.0 / gt + 0.2  # affine in disparity
    gt[0, :5] = 0  # missing GT: left out of the fit
    pred[1, :5] = -3.0  # non-positive prediction: left out of the fit
    mask = gt > 0
    depth, scale, shift = align_depth(pred, gt, mask, 'least_square_disparity')
    assert scale.item() == pytest.approx(0.25, rel=1e-5)
    assert shift.item() == pytest.approx(-0.05, rel=1e-4)
    ok = mask.clone()
    ok[1, :5] = False
    torch.testing.assert_close(depth[ok], gt[ok], rtol=1e-4, atol=1e-5)
    # aligned disparities are clipped to >= 1e-3 before inversion
    assert depth[1, :5].max().item() == pytest.approx(1000.0)


def test_constant_prediction_gives_lstsq_minimum_norm_solution():
    pred = torch.full((6, 7), 2.0)
    gt = torch.linspace(1, 3, 42).reshape(6, 7)
    mask = torch.ones_like(gt, dtype=torch.bool)
    scale, shift = fit_scale_shift(pred, gt, mask)
    a = np.stack([pred.numpy().ravel(), np.ones(42)], 1).astype(np.float64)
    want = np.linalg.lstsq(a, gt.numpy().ravel().astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose([scale.item(), shift.item()], want, rtol=1e-6)


def test_eth3d_subsampling_is_width_only_nearest():
    height, width = 8, 3000
    x = torch.arange(width, dtype=torch.float32).repeat(height, 1)
    out = subsample_for_fit(x, 1024)
    s = min(1024 / height, 1024 / width)
    assert out.shape == (height, int(width * s))  # the height is kept
    columns = np.minimum(
        np.floor(np.arange(out.shape[1], dtype=np.float32) * np.float32(1.0 / s)), width - 1
    )
    np.testing.assert_array_equal(out[0].numpy(), columns)
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[:, ::2] = True
    assert subsample_for_fit(mask, 1024).dtype == torch.bool
    assert subsample_for_fit(x, 4096) is x  # no subsampling at scale >= 1


def test_max_res_fit_uses_only_the_subsampled_columns():
    height, width = 6, 2048
    gt = torch.linspace(1, 9, width).repeat(height, 1)
    pred = gt * 0.5 + 1.0
    used = subsample_for_fit(torch.arange(width, dtype=torch.float32).repeat(height, 1), 1024)[0]
    corrupt = torch.ones(width, dtype=torch.bool)
    corrupt[used.long()] = False
    pred[:, corrupt] += 3.0  # only pixels the fit never sees
    mask = torch.ones_like(gt, dtype=torch.bool)
    _, scale, shift = align_depth(pred, gt, mask, 'least_square', max_res=1024)
    assert scale.item() == pytest.approx(2.0, rel=1e-5)
    assert shift.item() == pytest.approx(-2.0, rel=1e-5)
    _, scale_full, _ = align_depth(pred, gt, mask, 'least_square')
    assert scale_full.item() != pytest.approx(2.0, rel=1e-2)
    # the benchmark default: ETH3D fits at max_res 1024, ScanNet at full resolution
    eth3d = align_to_benchmark(pred, gt, 'eth3d', 'least_square')
    scannet = align_to_benchmark(pred, gt / 2, 'scannet', 'least_square')
    assert eth3d.scale.item() == pytest.approx(2.0, rel=1e-5)
    assert scannet.scale.item() != pytest.approx(1.0, rel=1e-2)


def test_valid_masks_follow_each_protocol():
    gt = torch.full((480, 640), 5.0)
    gt[0, 0] = 0
    gt[300, 300] = 12.0  # beyond NYU's 10 m
    nyu = benchmark_valid_mask(gt, 'nyu')
    assert nyu.sum() == (471 - 45) * (601 - 41) - 1
    assert not nyu[44, 100] and nyu[45, 100] and not nyu[300, 601]
    scannet = benchmark_valid_mask(gt, 'scannet')  # range only, no Eigen crop
    assert scannet.sum() == 480 * 640 - 2
    eth3d = benchmark_valid_mask(torch.tensor([[0.0, 1e-6, 1e4]]), 'eth3d')
    assert eth3d.tolist() == [[False, False, True]]

    kitti = benchmark_valid_mask(torch.full((352, 1216), 10.0), 'kitti')
    assert kitti.sum() == (321 - 117) * (1172 - 43)
    garg = benchmark_valid_mask(torch.full((352, 1216), 10.0), 'kitti', crop='kitti_garg')
    assert garg.sum() == (int(0.99189189 * 352) - int(0.40810811 * 352)) * (1172 - 43)
    assert crop_mask((352, 1216), None) is None

    # DIODE: the provided mask as is, even where the GT is outside 0.6..350
    gt = torch.tensor([[0.1, 2.0, 500.0]])
    provided = torch.tensor([[True, False, True]])
    assert torch.equal(benchmark_valid_mask(gt, 'diode', provided), provided)
    with pytest.raises(ValueError, match='mask'):
        benchmark_valid_mask(gt, 'diode')
    with pytest.raises(KeyError, match='known benchmarks'):
        benchmark_valid_mask(gt, 'nyuv3')


def test_nyu_crop_scales_with_non_standard_frames():
    mask = crop_mask((240, 320), 'nyu_eigen')
    rows = mask.any(1).nonzero()[:, 0]
    cols = mask.any(0).nonzero()[:, 0]
    assert (rows.min().item(), rows.max().item() + 1) == (22, 236)  # 45/2, 471/2 rounded
    assert (cols.min().item(), cols.max().item() + 1) == (20, 300)


def test_diode_clips_prediction_to_its_range():
    gt = torch.tensor([[1.0, 2.0, 4.0, 8.0]])
    pred = torch.tensor([[0.1, 2.0, 4.0, 8.0]])  # far below 0.6 after alignment
    mask = torch.tensor([[False, True, True, True]])
    aligned = align_to_benchmark(pred, gt, 'diode', 'least_square', valid_mask=mask)
    assert aligned.pred[0, 0].item() == pytest.approx(0.6)


def test_no_valid_pixel_raises():
    gt = torch.zeros(20, 30)
    with pytest.raises(NoValidPixelError):
        evaluate_depth(torch.rand(20, 30), gt, 'nyu', 'least_square')
    gt = torch.full((20, 30), 2.0)
    with pytest.raises(NoValidPixelError):  # valid GT, but no positive disparity to fit
        evaluate_depth(-torch.rand(20, 30), gt, 'scannet', 'least_square_disparity')


def test_perfect_prediction_scores_perfectly():
    gen = torch.Generator().manual_seed(2)
    gt = torch.rand(1, 64, 80, generator=gen) * 8 + 0.5
    metrics = evaluate_depth(1.0 / gt, gt, 'scannet', 'least_square_disparity')
    for name in ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'i_rmse'):
        assert metrics[name].item() == pytest.approx(0.0, abs=1e-5)
    assert metrics['silog_rmse'].item() < 0.1  # sqrt of a rounding-level difference
    assert [metrics[d].item() for d in DELTAS] == [1.0, 1.0, 1.0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
def test_runs_on_the_tensors_device(reference):
    expected, arrays = reference
    run = _find_run(expected, 'nyu', 'least_square_disparity')
    case = run['cases'][1]
    metrics = evaluate_depth(
        arrays[f'{case}__pred'].cuda(),
        arrays[f'{case}__gt'].cuda(),
        'nyu',
        'least_square_disparity',
    )
    assert all(v.is_cuda for v in metrics.values())
    assert metrics['abs_rel'].item() == pytest.approx(
        run['per_case'][case]['metrics']['abs_relative_difference'], rel=1e-5
    )


@pytest.mark.parametrize(
    'benchmark,alignment',
    [
        ('nyu', 'least_square_disparity'),
        ('kitti', 'least_square'),
        ('eth3d', 'least_square_disparity'),
        ('diode', 'least_square_disparity'),
    ],
)
def test_fast_path_equals_the_full_map_path(benchmark, alignment):
    """evaluate_depth skips invalid pixels; the numbers are those of the full maps."""
    from mmdistilldepth.evaluation.functional import depth_error_metrics

    gen = torch.Generator().manual_seed(3)
    shape = (352, 1216) if benchmark == 'kitti' else (120, 1500)  # eth3d: subsampled fit
    gt = torch.rand(shape, generator=gen) * 20 + 0.5
    gt[torch.rand(shape, generator=gen) < 0.3] = 0
    pred = 1.0 / gt.clamp(min=0.5) + 0.02 * torch.randn(shape, generator=gen)
    mask = (torch.rand(shape, generator=gen) < 0.8) & (gt > 0)  # as DIODE's masks
    aligned = align_to_benchmark(pred, gt, benchmark, alignment, valid_mask=mask)
    want = depth_error_metrics(aligned.pred, aligned.gt, aligned.valid_mask)
    got = evaluate_depth(pred, gt, benchmark, alignment, valid_mask=mask)
    for name in METRIC_NAMES:
        assert got[name].item() == pytest.approx(want[name].item(), rel=1e-6), name
