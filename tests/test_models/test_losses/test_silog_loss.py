"""SiLog loss (DAv2 metric fine-tuning): formula, scale behaviour, batch pooling."""

import math

import numpy as np
import pytest
import torch

from mmdistilldepth.models.losses import SiLogLoss, silog_loss
from mmdistilldepth.registry import MODELS


def test_matches_the_formula_over_the_whole_batch():
    gen = torch.Generator().manual_seed(0)
    pred = 0.5 + torch.rand(2, 1, 8, 9, generator=gen) * 10
    target = 0.5 + torch.rand(2, 1, 8, 9, generator=gen) * 10
    mask = torch.rand(2, 1, 8, 9, generator=gen) > 0.3
    d = np.log(target.numpy()[mask.numpy()]) - np.log(pred.numpy()[mask.numpy()])
    expected = math.sqrt((d**2).mean() - 0.5 * d.mean() ** 2)
    assert float(silog_loss(pred, target, mask)) == pytest.approx(expected, rel=1e-5)
    # pooled over the batch, not a mean of per-image losses
    per_image = np.mean(
        [float(silog_loss(pred[i : i + 1], target[i : i + 1], mask[i : i + 1])) for i in range(2)]
    )
    assert abs(per_image - expected) > 1e-4


def test_scale_error_costs_sqrt_of_one_minus_lambda():
    target = torch.linspace(1, 10, 50).view(1, 1, 5, 10)
    wrong_scale = 2.0 * target
    loss = MODELS.build(dict(type='SiLogLoss', variance_focus=0.5))
    assert float(loss(wrong_scale, target)) == pytest.approx(math.sqrt(0.5) * math.log(2), rel=1e-5)
    assert float(SiLogLoss(variance_focus=1.0)(wrong_scale, target)) < 1e-3  # float32 round-off
    assert float(SiLogLoss(loss_weight=3.0)(wrong_scale, target)) == pytest.approx(
        3 * math.sqrt(0.5) * math.log(2), rel=1e-5
    )


def test_no_valid_pixel_and_perfect_fit_keep_finite_gradients():
    pred = torch.full((1, 1, 4, 4), 2.0, requires_grad=True)
    target = torch.zeros(1, 1, 4, 4)
    loss = SiLogLoss()(pred, target)
    loss.backward()
    assert float(loss) == 0.0 and torch.equal(pred.grad, torch.zeros_like(pred))
    pred.grad = None
    exact = SiLogLoss()(pred, pred.detach().clone())
    exact.backward()
    assert torch.isfinite(pred.grad).all()
