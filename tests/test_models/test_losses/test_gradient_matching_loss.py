"""GradientMatchingLoss: closed forms, invariances, masking."""

from functools import partial

import numpy as np
import pytest
import torch

from mmdistilldepth.models.losses import GradientMatchingLoss, global_normalize
from mmdistilldepth.registry import MODELS
from tests.test_models.test_losses.conftest import random_maps

random_maps = partial(random_maps, shape=(2, 1, 20, 24), invalid=0.2, full_image=None)


def naive_loss(pred, target, mask, scales):
    """Loops over images and scales; MiDaS's per-scale normalizer (valid pixels)."""
    residual = (global_normalize(pred, mask) - global_normalize(target, mask))[:, 0]
    residual, mask = residual.numpy(), mask[:, 0].numpy()
    total = 0.0
    for k in range(scales):
        per_image = []
        for r, m in zip(residual[:, :: 2**k, :: 2**k], mask[:, :: 2**k, :: 2**k]):
            if not m.any():
                continue
            gx = np.abs(np.diff(r, axis=1)) * (m[:, 1:] & m[:, :-1])
            gy = np.abs(np.diff(r, axis=0)) * (m[1:] & m[:-1])
            per_image.append((gx.sum() + gy.sum()) / m.sum())
        total += np.mean(per_image) if per_image else 0.0
    return total


def test_closed_form_on_a_ramp():
    """Residual slope a along x: each scale k adds a * 2^k * (W_k - 1) / W_k."""
    height, width, slope = 16, 20, 0.3
    target = torch.rand(1, 1, height, width, dtype=torch.float64)
    ramp = slope * torch.arange(width, dtype=torch.float64).expand(1, 1, height, width)
    loss = GradientMatchingLoss(scales=3, normalization='none')
    expected = sum(
        slope * 2**k * (len(range(0, width, 2**k)) - 1) / len(range(0, width, 2**k))
        for k in range(3)
    )
    np.testing.assert_allclose(loss(target + ramp, target).item(), expected, rtol=1e-12)


@pytest.mark.parametrize('scales', [1, 4])
def test_matches_naive_loops(scales):
    pred, target, mask = random_maps()
    mask[1] = False
    mask[1, 0, :3, :3] = True
    value = GradientMatchingLoss(scales=scales)(pred, target, mask)
    np.testing.assert_allclose(value.item(), naive_loss(pred, target, mask, scales), rtol=1e-12)


def test_invariances():
    pred, target, mask = random_maps()
    loss = MODELS.build(dict(type='GradientMatchingLoss', scales=4, loss_weight=2.0, eps=0))
    reference = loss(pred, target, mask)
    assert reference > 0.1
    torch.testing.assert_close(loss(3 * pred + 1, target, mask), reference)
    assert loss(2 * target + 5, target, mask) < 1e-12
    plain = GradientMatchingLoss(normalization='none')
    assert not torch.isclose(plain(3 * pred + 1, target, mask), plain(pred, target, mask))
    assert torch.isclose(plain(pred + 1, target, mask), plain(pred, target, mask))


def test_masked_pixels_have_no_effect_and_no_gradient():
    pred, target, mask = random_maps()
    loss = GradientMatchingLoss()
    pred.requires_grad_()
    reference = loss(pred, target, mask)
    reference.backward()
    assert (pred.grad[~mask] == 0).all() and (pred.grad[mask] != 0).any()
    garbage = torch.full_like(target, float('nan'))
    pred2 = torch.where(mask, pred.detach(), garbage).requires_grad_()
    value = loss(pred2, torch.where(mask, target, garbage), mask)
    value.backward()
    torch.testing.assert_close(value, reference, rtol=1e-12, atol=0)
    torch.testing.assert_close(pred2.grad, pred.grad)


def test_all_invalid_and_constant_inputs():
    pred, target, _ = random_maps()
    pred.requires_grad_()
    loss = GradientMatchingLoss()
    value = loss(pred, target, torch.zeros_like(pred, dtype=torch.bool))
    value.backward()
    assert value.item() == 0 and (pred.grad == 0).all()
    pred.grad = None
    value = loss(pred * 0 + 3, target * 0 + 2)
    value.backward()
    assert value.item() == 0 and torch.isfinite(pred.grad).all()


def test_arguments():
    with pytest.raises(ValueError, match='normalization'):
        GradientMatchingLoss(normalization='hybrid')
    with pytest.raises(ValueError, match='scales'):
        GradientMatchingLoss(scales=0)(*random_maps())
    assert 'scales=4' in repr(GradientMatchingLoss())


def test_teacher_maps_from_inference_mode():
    pred, target, mask = random_maps()
    with torch.inference_mode():
        target_i, mask_i = target.clone(), mask.clone()
    loss = GradientMatchingLoss()
    value = loss(pred.requires_grad_(), target_i, mask_i)
    value.backward()
    torch.testing.assert_close(value, loss(pred, target, mask))
