"""Properties of NormalizedL1Loss: invariances, masking, degenerate inputs, precision."""

import itertools
from functools import partial

import numpy as np
import pytest
import torch

from mmdistilldepth.models.losses import NormalizedL1Loss, build_contexts
from mmdistilldepth.registry import MODELS
from tests.test_models.test_losses.conftest import random_maps

NORMALIZED = [
    ('global', 'range'),
    ('hybrid', 'range'),
    ('hybrid', 'quantile'),
    ('hybrid', 'spatial'),
    ('local', 'range'),
    ('local', 'quantile'),
    ('local', 'spatial'),
]
ALL = NORMALIZED + [('none', 'range')]


random_maps = partial(random_maps, shape=(3, 1, 12, 16), full_image=None)


def build(normalization, grouping, **kwargs):
    return MODELS.build(
        dict(type='NormalizedL1Loss', normalization=normalization, grouping=grouping, **kwargs)
    )


def test_build_and_arguments():
    loss = build('hybrid', 'quantile', levels=[1, 2], loss_weight=0.5)
    assert isinstance(loss, NormalizedL1Loss) and loss.levels == (1, 2)
    assert "grouping='quantile'" in repr(loss)
    pred, target, mask = random_maps()
    full = build('hybrid', 'quantile', levels=[1, 2])(pred, target, mask)
    torch.testing.assert_close(loss(pred, target, mask), 0.5 * full)
    for bad in (dict(normalization='median'), dict(grouping='kmeans')):
        with pytest.raises(ValueError):
            NormalizedL1Loss(**bad)
    with pytest.raises(ValueError, match='shape'):
        loss(pred[:, 0], target[:, 0], mask[:, 0])
    with pytest.raises(ValueError, match='mask'):
        loss(pred, target, mask[..., :-1])


@pytest.mark.parametrize('normalization,grouping', NORMALIZED)
@pytest.mark.parametrize('hdn_compat', [False, True])
def test_invariant_to_positive_affine_student(normalization, grouping, hdn_compat):
    # HDN's spatial contexts need square maps.
    pred, target, mask = random_maps(shape=(3, 1, 12, 12 if hdn_compat else 16))
    loss = build(normalization, grouping, hdn_compat=hdn_compat, eps=0)
    scale = torch.tensor([0.3, 2.0, 7.5], dtype=pred.dtype).view(3, 1, 1, 1)
    shift = torch.tensor([-4.0, 0.0, 11.0], dtype=pred.dtype).view(3, 1, 1, 1)
    reference = loss(pred, target, mask)
    assert reference > 0.05
    torch.testing.assert_close(
        loss(pred * scale + shift, target, mask), reference, rtol=1e-10, atol=0
    )
    torch.testing.assert_close(
        loss(pred, target * scale + shift, mask), reference, rtol=1e-10, atol=0
    )
    # A negative scale flips the order: not invariant.
    assert not torch.isclose(loss(-pred, target, mask), reference, rtol=1e-3)


@pytest.mark.parametrize('grouping', ['range', 'quantile', 'spatial'])
def test_local_invariant_to_an_affine_map_per_context(grouping):
    pred, target, mask = random_maps()
    contexts = build_contexts(target, mask, 'local', grouping, (1, 2, 4))
    g = torch.Generator().manual_seed(1)
    k = contexts.num_contexts
    scale = torch.rand(3, k + 1, generator=g, dtype=pred.dtype) * 5 + 0.1
    shift = torch.randn(3, k + 1, generator=g, dtype=pred.dtype) * 10
    ids = contexts.ids[:, 0]
    warped = pred.flatten(1) * scale.gather(1, ids) + shift.gather(1, ids)
    loss = build('local', grouping, eps=0)
    reference = loss(pred, target, mask)
    torch.testing.assert_close(
        loss(warped.view_as(pred), target, mask), reference, rtol=1e-10, atol=0
    )
    # Hybrid mixes levels: a per-context map does change it.
    hybrid = build('hybrid', grouping, eps=0)
    assert not torch.isclose(
        hybrid(warped.view_as(pred), target, mask), hybrid(pred, target, mask), rtol=1e-3
    )


@pytest.mark.parametrize('grouping', ['range', 'quantile', 'spatial'])
def test_hybrid_with_one_level_is_global(grouping):
    pred, target, mask = random_maps()
    one_level = build('hybrid', grouping, levels=(1,))(pred, target, mask)
    torch.testing.assert_close(
        one_level, build('global', grouping)(pred, target, mask), rtol=1e-12, atol=0
    )


@pytest.mark.parametrize('normalization,grouping', ALL)
@pytest.mark.parametrize('hdn_compat', [False, True])
def test_masked_pixels_have_no_effect_and_no_gradient(normalization, grouping, hdn_compat):
    pred, target, mask = random_maps(shape=(2, 1, 12, 12))
    loss = build(normalization, grouping, hdn_compat=hdn_compat)
    pred.requires_grad_()
    reference = loss(pred, target, mask)
    reference.backward()
    grad = pred.grad.clone()
    assert (grad[~mask] == 0).all() and (grad[mask] != 0).any()

    garbage = torch.randn_like(pred) * 1e6
    garbage[0, 0, :2] = float('nan')
    garbage[1, 0, :2] = float('inf')
    pred2 = torch.where(mask, pred.detach(), garbage).requires_grad_()
    target2 = torch.where(mask, target, garbage.flip(-1))
    value = loss(pred2, target2, mask)
    value.backward()
    torch.testing.assert_close(value, reference, rtol=1e-12, atol=0)
    torch.testing.assert_close(pred2.grad, grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize('normalization,grouping', ALL)
@pytest.mark.parametrize('hdn_compat', [False, True])
def test_all_invalid_gives_zero_loss_and_gradient(normalization, grouping, hdn_compat):
    pred, target, _ = random_maps(shape=(2, 1, 8, 8))
    pred.requires_grad_()
    mask = torch.zeros_like(pred, dtype=torch.bool)
    value = build(normalization, grouping, hdn_compat=hdn_compat)(pred, target, mask)
    value.backward()
    assert value.item() == 0 and (pred.grad == 0).all()


@pytest.mark.parametrize('normalization,grouping', ALL)
@pytest.mark.parametrize('hdn_compat', [False, True])
def test_constant_regions_and_empty_contexts_are_finite(normalization, grouping, hdn_compat):
    shape = (4, 1, 8, 8)
    target = torch.rand(shape, dtype=torch.float64) + 1
    target[0] = 2.0  # constant teacher: zero range, all quantiles equal
    target[1, :, :, :4] = 3.0  # a constant half
    target[2] = torch.where(torch.rand(1, 8, 8) > 0.5, 1.0, 5.0)  # two values only
    pred = torch.rand(shape, dtype=torch.float64)
    pred[0] = 7.0  # constant student
    pred[1, :, :, :4] = 0.5
    mask = torch.ones(shape, dtype=torch.bool)
    mask[3] = False
    mask[3, 0, 0, :3] = True  # three valid pixels: most contexts are empty
    pred.requires_grad_()
    loss = build(normalization, grouping, levels=(1, 2, 4, 8), hdn_compat=hdn_compat)
    value = loss(pred, target, mask)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(pred.grad).all()


def test_float32_matches_float64_away_from_bin_edges():
    """No pixel can change context between the two precisions.

    Range edges fall on integers (min 0, max 8) and the targets stay 0.25 away from
    them; quantile edges are target values or lie between two of them, which float32
    keeps apart and in order.
    """
    g = torch.Generator().manual_seed(3)
    shape = (2, 1, 24, 20)
    target = (
        torch.randint(0, 8, shape, generator=g).double()
        + 0.25
        + 0.5 * torch.rand(shape, generator=g, dtype=torch.float64)
    )
    target[:, 0, 0, 0], target[:, 0, 0, 1] = 0.0, 8.0  # range edges on integers
    pred = target * 0.5 + torch.rand(shape, generator=g, dtype=torch.float64)
    mask = torch.rand(shape, generator=g) > 0.2
    mask[:, 0, 0, :2] = True
    for (normalization, grouping), compat in itertools.product(NORMALIZED, (False, True)):
        if compat and grouping == 'spatial':
            continue
        loss = build(normalization, grouping, hdn_compat=compat)
        value64 = loss(pred, target, mask)
        value32 = loss(pred.float(), target.float(), mask)
        assert value32.dtype == torch.float32
        np.testing.assert_allclose(value32.item(), value64.item(), rtol=1e-5)


def test_half_inputs_are_computed_in_float32():
    pred, target, mask = random_maps(dtype=torch.float32)
    loss = build('hybrid', 'range')
    value = loss(pred.half(), target.half(), mask)
    assert value.dtype == torch.float32
    np.testing.assert_allclose(
        value.item(), loss(pred.half().float(), target.half().float(), mask).item()
    )


@pytest.mark.parametrize('normalization,grouping', NORMALIZED)
@pytest.mark.parametrize('hdn_compat', [False, True])
def test_gradcheck(normalization, grouping, hdn_compat):
    pred, target, mask = random_maps(shape=(2, 1, 6, 6))
    loss = build(normalization, grouping, hdn_compat=hdn_compat)
    pred.requires_grad_()
    assert torch.autograd.gradcheck(lambda p: loss(p, target, mask), (pred,), eps=1e-7, atol=1e-6)


def test_target_gets_no_gradient_and_contexts_come_from_target():
    pred, target, mask = random_maps()
    target.requires_grad_()
    loss = build('hybrid', 'range')
    loss(pred.requires_grad_(), target, mask).backward()
    assert target.grad is None and pred.grad is not None
    # Swapping the roles changes the contexts, hence the value.
    assert not torch.isclose(loss(pred, target, mask), loss(target, pred, mask))


def test_batch_reduction():
    pred, target, mask = random_maps()
    mask[0, 0, :6] = False  # images with different valid counts
    for compat in (False, True):
        loss = build('hybrid', 'range', hdn_compat=compat)
        singles = torch.stack(
            [loss(pred[i : i + 1], target[i : i + 1], mask[i : i + 1]) for i in range(3)]
        )
        counts = mask.flatten(1).sum(1).double()
        # Default: images averaged; HDN: pixels of the whole batch averaged.
        expected = (singles * counts).sum() / counts.sum() if compat else singles.mean()
        torch.testing.assert_close(loss(pred, target, mask), expected, rtol=1e-12, atol=0)


def test_no_mask_means_all_valid():
    pred, target, _ = random_maps()
    loss = build('hybrid', 'quantile')
    ones = torch.ones_like(pred, dtype=torch.bool)
    assert loss(pred, target) == loss(pred, target, ones)


@pytest.mark.parametrize('normalization,grouping', ALL)
def test_teacher_maps_from_inference_mode(normalization, grouping):
    """Teachers predict under torch.inference_mode(); their maps must be usable."""
    pred, target, mask = random_maps()
    with torch.inference_mode():
        target_i, mask_i = target.clone(), mask.clone()
    loss = build(normalization, grouping)
    value = loss(pred.requires_grad_(), target_i, mask_i)
    value.backward()
    torch.testing.assert_close(value, loss(pred, target, mask))
