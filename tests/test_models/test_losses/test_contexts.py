"""Normalization contexts: bins by value range and quantile, spatial tiles."""

import numpy as np
import pytest
import torch

from mmdistilldepth.models.losses import (
    build_contexts,
    masked_sort,
    quantile_contexts,
    range_contexts,
    sorted_quantile,
    spatial_contexts,
)
from tests.test_models.test_losses.conftest import random_maps


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_sorted_quantile_is_torch_nanquantile(dtype):
    pred, target, mask = random_maps(dtype=dtype)
    target = (target * 4).round() / 4  # ties
    mask[0, 0, :, :3] = False
    values, _, n_valid = masked_sort(target, mask)
    nan_filled = torch.where(mask, target, torch.nan).flatten(1)
    quantiles = (0.0, 0.25, 0.3, 0.5, 0.75, 1.0, 1 / 3)
    got = sorted_quantile(values, n_valid, quantiles)
    for j, q in enumerate(quantiles):
        expected = torch.nanquantile(nan_filled, q, dim=1, keepdim=True)
        assert torch.equal(got[:, j : j + 1], expected), q


def test_masked_sort_puts_invalid_last():
    _, target, mask = random_maps()
    values, order, n_valid = masked_sort(target, mask)
    assert n_valid.tolist() == mask.flatten(1).sum(1).tolist()
    for b in range(target.shape[0]):
        n = int(n_valid[b])
        expected = np.sort(target[b, 0][mask[b, 0]].numpy())
        np.testing.assert_array_equal(values[b, :n].numpy(), expected)
        assert torch.isinf(values[b, n:]).all()
        assert torch.equal(target[b].flatten()[order[b, :n]], values[b, :n])


@pytest.mark.parametrize('grouping', ['range', 'quantile', 'spatial'])
def test_default_contexts_hold_every_valid_pixel_once_per_level(grouping):
    _, target, mask = random_maps(shape=(2, 1, 12, 20))
    contexts = build_contexts(target, mask, 'hybrid', grouping, (1, 2, 4))
    member = contexts.member()
    assert torch.equal(member, mask.flatten(1).unsqueeze(1).expand_as(member))
    assert contexts.counts.sum(1).tolist() == (mask.flatten(1).sum(1) * 3).tolist()
    # Level l holds exactly its own contexts.
    for level, (offset, size) in enumerate(zip(contexts.offsets, contexts.sizes)):
        ids = contexts.ids[:, level][member[:, level]]
        assert ids.min() >= offset and ids.max() < offset + size


def test_range_bins_are_equal_width_and_close_the_top():
    target = torch.tensor([0.0, 1.0, 1.9, 2.0, 5.0, 7.99, 8.0]).view(1, 1, 1, 7)
    mask = torch.ones_like(target, dtype=torch.bool)
    contexts = range_contexts(target, mask, (4,))
    assert contexts.ids[0, 0].tolist() == [0, 0, 0, 1, 2, 3, 3]
    compat = range_contexts(target, mask, (4,), hdn_compat=True)
    assert compat.ids[0, 0].tolist() == [0, 0, 0, 1, 2, 3, 4]  # 4 = in no context


def test_quantile_bins_keep_ties_together_and_compat_drops_the_max():
    target = torch.tensor([1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 4.0, 5.0]).view(1, 1, 2, 4)
    mask = torch.ones_like(target, dtype=torch.bool)
    # Left edges q(0), q(.25), q(.5), q(.75) = 1, 2, 2, 3.25: bin 1 = [2, 2) is
    # empty and all the 2s share bin 2.
    default = quantile_contexts(target, mask, (4,))
    assert default.ids.flatten().tolist() == [0, 2, 2, 2, 2, 2, 3, 3]
    assert default.counts.tolist() == [[1, 0, 5, 2]]
    compat = quantile_contexts(target, mask, (4,), hdn_compat=True)
    assert compat.ids.flatten().tolist() == [0, 2, 2, 2, 2, 2, 3, 4]


def test_spatial_tiles():
    mask = torch.ones(1, 1, 6, 8, dtype=torch.bool)
    contexts = spatial_contexts(mask, (2,))
    expected = torch.tensor([[0] * 4 + [1] * 4] * 3 + [[2] * 4 + [3] * 4] * 3)
    assert torch.equal(contexts.ids.view(6, 8), expected)
    with pytest.raises(ValueError, match='square'):
        spatial_contexts(mask, (2,), hdn_compat=True)
    square = spatial_contexts(torch.ones(1, 1, 8, 8, dtype=torch.bool), (1, 2, 4), hdn_compat=True)
    assert square.counts.tolist() == [[64] + [16] * 4 + [4] * 16]


def test_invalid_arguments_raise():
    _, target, mask = random_maps()
    with pytest.raises(ValueError, match='normalization'):
        build_contexts(target, mask, 'median')
    with pytest.raises(ValueError, match='grouping'):
        build_contexts(target, mask, 'hybrid', 'kmeans')
    with pytest.raises(ValueError, match='levels'):
        build_contexts(target, mask, 'hybrid', 'range', (0, 2))
    with pytest.raises(ValueError, match='shape'):
        masked_sort(target[:, :, None], mask[:, :, None])
