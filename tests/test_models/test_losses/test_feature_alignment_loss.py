"""FeatureAlignmentLoss: cosine distance with Depth Anything's tolerance margin."""

import math

import pytest
import torch

from mmdistilldepth.models.losses import FeatureAlignmentLoss
from mmdistilldepth.registry import MODELS


def rotated(features, angle):
    """Features at the given angle from ``features`` (same norm), per token."""
    other = torch.randn_like(features)
    other = (
        other
        - (other * features).sum(-1, keepdim=True)
        / features.pow(2).sum(-1, keepdim=True)
        * features
    )  # orthogonal part
    other = other / other.norm(dim=-1, keepdim=True) * features.norm(dim=-1, keepdim=True)
    return math.cos(angle) * features + math.sin(angle) * other


def test_values_and_margin():
    torch.manual_seed(0)
    target = torch.randn(2, 6, 16, dtype=torch.float64)
    loss = FeatureAlignmentLoss(margin=0.85)
    assert loss(target, target).item() == 0
    assert loss(target * 3, target).item() == 0
    torch.testing.assert_close(loss(-target, target), torch.tensor(2.0, dtype=torch.float64))
    # cos = 0.8 (below the margin) costs 0.2; cos = 0.9 is tolerated.
    torch.testing.assert_close(
        loss(rotated(target, math.acos(0.8)), target), torch.tensor(0.2, dtype=torch.float64)
    )
    assert loss(rotated(target, math.acos(0.9)), target).item() == 0
    # Half the tokens tolerated: they count in the mean with 0.
    mixed = torch.cat(
        [rotated(target[:, :3], math.acos(0.9)), rotated(target[:, 3:], math.acos(0.5))], dim=1
    )
    torch.testing.assert_close(loss(mixed, target), torch.tensor(0.25, dtype=torch.float64))
    assert FeatureAlignmentLoss(margin=1.0)(
        rotated(target, math.acos(0.9)), target
    ).item() == pytest.approx(0.1)


def test_layouts_mask_and_gradient():
    torch.manual_seed(0)
    tokens = torch.randn(2, 12, 8)  # (B, N, C), N = 3 x 4
    student = (tokens + torch.randn_like(tokens)).requires_grad_()
    loss = MODELS.build(dict(type='FeatureAlignmentLoss', margin=0.85, loss_weight=2.0))
    as_map = lambda x: x.transpose(1, 2).reshape(2, 8, 3, 4)  # noqa: E731
    torch.testing.assert_close(loss(as_map(student), as_map(tokens)), loss(student, tokens))

    mask = torch.rand(2, 12) > 0.5
    value = loss(student, tokens, mask)
    value.backward()
    cos = torch.cosine_similarity(student, tokens, dim=-1)
    penalized = mask & (cos <= 0.85)
    expected = (
        2 * torch.stack([(1 - cos[b][penalized[b]]).sum() / mask[b].sum() for b in range(2)]).mean()
    )
    torch.testing.assert_close(value, expected)
    assert (student.grad[~penalized] == 0).all()
    assert (student.grad[penalized].abs().sum(-1) > 0).all()
    torch.testing.assert_close(loss(as_map(student), as_map(tokens), mask.view(2, 3, 4)), value)


def test_degenerate_inputs():
    student = torch.zeros(1, 4, 8, requires_grad=True)
    loss = FeatureAlignmentLoss()
    value = loss(student, torch.randn(1, 4, 8), torch.zeros(1, 4, dtype=torch.bool))
    value.backward()
    assert value.item() == 0 and (student.grad == 0).all()
    value = loss(student, torch.randn(1, 4, 8))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(student.grad).all()
    with pytest.raises(ValueError, match='same shape'):
        loss(torch.randn(1, 4, 8), torch.randn(1, 4, 6))


def test_frozen_features_from_inference_mode():
    torch.manual_seed(0)
    with torch.inference_mode():
        frozen, mask = torch.randn(2, 12, 8), torch.rand(2, 12) > 0.3
    student = torch.randn(2, 12, 8, requires_grad=True)
    value = FeatureAlignmentLoss()(student, frozen, mask)
    value.backward()
    assert torch.isfinite(student.grad).all() and value > 0
