"""tools/analysis/local_vs_global_alignment.py (the paper's Figure 2)."""

import json

import numpy as np
import torch

from tests.conftest import load_tool

tool = load_tool('analysis', 'local_vs_global_alignment.py')


def _case(h=96, w=128):
    """GT depth and a disparity prediction exact in the central crop, off outside it."""
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    gt = (1.5 + 2.0 * yy / h + 0.5 * xx / w).astype(np.float32)
    pred = 3.0 / gt + 0.2  # affine in disparity: any fit recovers it
    rows, cols = tool.central_crop((h, w))
    outside = np.ones_like(pred, dtype=bool)
    outside[rows, cols] = False
    pred[outside] *= 1.0 + 0.5 * (xx[outside] / w)  # a distortion the crop does not have
    return pred, gt


def test_local_fit_wins_when_the_error_is_outside_the_crop():
    pred, gt = _case()
    valid = torch.from_numpy(gt > 0)
    scores = tool.score_on_crop(
        torch.from_numpy(pred), torch.from_numpy(gt), valid, 'nyu', 'least_square_disparity'
    )
    assert scores['local']['abs_rel'] < 1e-3 and scores['local']['delta1'] == 1.0
    assert scores['global']['abs_rel'] > 10 * scores['local']['abs_rel']


def test_npz_run_writes_the_figure_and_the_numbers(tmp_path):
    pred, gt = _case(480, 640)
    np.savez(tmp_path / 'cases.npz', nyu_0__pred=pred, nyu_0__gt=gt)
    out, numbers = tmp_path / 'fig.png', tmp_path / 'fig.json'
    result = tool.main(
        ['-', str(tmp_path / 'cases.npz'), '--out', str(out), '--json', str(numbers)]
    )
    assert out.stat().st_size > 1000
    saved = json.loads(numbers.read_text())
    assert saved['mean'] == result['mean']
    assert result['mean']['local']['abs_rel'] < result['mean']['global']['abs_rel']
