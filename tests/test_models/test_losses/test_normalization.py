"""Depth normalizations: medians, scales, the loss against naive per-context loops."""

import numpy as np
import pytest
import torch

from mmdistilldepth.models.losses import (
    context_shift_scale,
    global_contexts,
    global_normalize,
    hybrid_normalize,
    normalized_l1_loss,
)
from tests.test_models.test_losses.conftest import random_maps

# --- a naive reference of the default semantics: loops over images and contexts ---


def naive_groups(t, rows, cols, shape, grouping, segments):
    """Boolean masks (over an image's valid pixels) of the contexts of one level."""
    b = 1.0 / segments
    if grouping == 'spatial':
        h, w = shape
        r_end = [int((i + 1) * b * h) for i in range(segments)]
        c_end = [int((i + 1) * b * w) for i in range(segments)]
        r_tile = np.searchsorted(r_end, rows, side='right')
        c_tile = np.searchsorted(c_end, cols, side='right')
        return [(r_tile == i) & (c_tile == j) for i in range(segments) for j in range(segments)]
    if grouping == 'range':
        lo, span = t.min(), t.max() - t.min()
        edges = [lo + span * i * b for i in range(segments)]
    else:
        edges = [np.quantile(t, i * b) for i in range(segments)]
    groups = []
    for i in range(segments):
        upper = t < edges[i + 1] if i + 1 < segments else np.ones_like(t, dtype=bool)
        groups.append((t >= edges[i]) & upper)
    return groups


def naive_loss(pred, target, mask, normalization, grouping='range', levels=(1, 2, 4), eps=1e-6):
    pred, target, mask = (x[:, 0].numpy() for x in (pred, target, mask))
    shape = target.shape[1:]
    losses = []
    for p_img, t_img, m_img in zip(pred, target, mask):
        rows, cols = np.nonzero(m_img)
        p, t = p_img[m_img], t_img[m_img]
        if p.size == 0:
            continue
        if normalization == 'none':
            losses.append(np.abs(p - t).mean())
            continue
        if normalization == 'global':
            groups = [np.ones_like(t, dtype=bool)]
        else:
            segs = levels if normalization == 'hybrid' else (max(levels),)
            groups = [g for s in segs for g in naive_groups(t, rows, cols, shape, grouping, s)]
        total, count = np.zeros_like(t), np.zeros_like(t)
        for g in groups:
            if not g.any():
                continue
            norm = []
            for x in (p[g], t[g]):
                med = np.median(x)
                norm.append((x - med) / (np.abs(x - med).mean() + eps))
            total[g] += np.abs(norm[0] - norm[1])
            count[g] += 1
        assert (count == len(segs if normalization != 'global' else [1])).all()
        losses.append((total / count).mean())
    return float(np.mean(losses)) if losses else 0.0


@pytest.mark.parametrize(
    'normalization,grouping,levels',
    [
        ('none', 'range', (1, 2, 4)),
        ('global', 'range', (1, 2, 4)),
        ('hybrid', 'range', (1, 2, 4)),
        ('hybrid', 'quantile', (1, 2, 4)),
        ('hybrid', 'spatial', (1, 2, 4)),
        ('hybrid', 'range', (1, 3)),
        ('hybrid', 'quantile', (2, 5)),
        ('hybrid', 'spatial', (3,)),
        ('local', 'range', (1, 2, 4)),
        ('local', 'quantile', (1, 2, 4)),
        ('local', 'spatial', (1, 2, 4)),
    ],
)
def test_default_loss_matches_naive_loops(normalization, grouping, levels):
    pred, target, mask = random_maps()
    mask[2] = False  # an image without valid pixels is left out of the mean
    value = normalized_l1_loss(pred, target, mask, normalization, grouping, levels)
    expected = naive_loss(pred, target, mask, normalization, grouping, levels)
    np.testing.assert_allclose(value.item(), expected, rtol=1e-10)


# --- building blocks ---


@pytest.mark.parametrize('hdn_compat', [False, True])
def test_shift_and_scale(hdn_compat):
    pred, target, mask = random_maps()
    mask[0, 0, 0, :5] = False  # odd and even counts across images
    contexts = global_contexts(target, mask)
    for x, is_source in ((target, True), (pred, False)):
        shift, scale = context_shift_scale(x, contexts, is_source, hdn_compat)
        for b in range(x.shape[0]):
            values = x[b, 0][mask[b, 0]]
            if hdn_compat:  # lower median, sum / (N + 1)
                med = torch.median(values).item()
                mad = (values - med).abs().sum().item() / (values.numel() + 1)
            else:
                med = float(np.median(values.numpy()))
                mad = (values - med).abs().mean().item()
            np.testing.assert_allclose(shift[b, 0].item(), med, rtol=1e-12)
            np.testing.assert_allclose(scale[b, 0].item(), mad, rtol=1e-12)


def test_global_normalize_has_zero_median_and_unit_mad():
    pred, _, mask = random_maps()
    out = global_normalize(pred, mask, eps=0)
    assert out.shape == pred.shape and (out[~mask] == 0).all()
    for b in range(pred.shape[0]):
        values = out[b][mask[b]].numpy()
        assert abs(np.median(values)) < 1e-12
        np.testing.assert_allclose(np.abs(values).mean(), 1.0, rtol=1e-12)


def test_hybrid_normalize_levels():
    pred, target, mask = random_maps()
    out = hybrid_normalize(pred, target, mask, 'range', (1, 2, 4))
    assert out.shape == (3, 3, 13, 17)
    np.testing.assert_allclose(
        out[:, :1].numpy(), global_normalize(pred, mask).numpy(), rtol=1e-12, atol=1e-12
    )
    local = hybrid_normalize(target, target, mask, 'quantile', (4,))
    assert local.shape == (3, 1, 13, 17) and (local[~mask] == 0).all()


@pytest.mark.parametrize('grouping', ['range', 'quantile', 'spatial'])
@pytest.mark.parametrize('normalization', ['global', 'hybrid', 'local'])
def test_only_quantile_bins_sort(monkeypatch, normalization, grouping):
    """Medians come from radix selection: only the teacher's quantile edges sort."""
    from mmdistilldepth.models.losses import contexts

    calls = []
    sort = contexts._argsort_rows

    def counting(x):
        calls.append(tuple(x.shape))
        return sort(x)

    monkeypatch.setattr(contexts, '_argsort_rows', counting)
    pred, target, mask = random_maps()
    normalized_l1_loss(pred.requires_grad_(), target, mask, normalization, grouping).backward()
    sorts = normalization != 'global' and grouping == 'quantile'
    assert calls == [(3, 13 * 17)] * sorts


def test_argsort_rows_is_an_ascending_order():
    from mmdistilldepth.models.losses import contexts

    x = (torch.rand(3, 50, dtype=torch.float64) * 4).round()  # ties
    x[1, :10] = float('inf')
    order = contexts.argsort_rows(x)
    assert order.dtype == torch.long and order.shape == x.shape
    assert torch.equal(order.sort(1).values, torch.arange(50).expand(3, 50))
    values = x.gather(1, order)
    assert (values[:, 1:] >= values[:, :-1]).all()
