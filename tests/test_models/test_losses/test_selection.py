"""Radix selection of order statistics against a torch.sort reference."""

import pytest
import torch

from mmdistilldepth.models.losses import build_contexts
from mmdistilldepth.models.losses.normalization import median_ranks
from mmdistilldepth.models.losses.selection import key_values, order_keys, select_ranks


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_order_keys_keep_the_order_and_invert(dtype):
    x = torch.tensor([-3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, 2.0, 7e20], dtype=dtype)
    x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))]
    keys = order_keys(x)
    assert keys.dtype == (torch.int32 if dtype == torch.float32 else torch.int64)
    order = keys.argsort(stable=True)
    assert (x[order][1:] >= x[order][:-1]).all()
    assert torch.equal(key_values(keys).view(keys.dtype), x.view(keys.dtype))  # bit exact


def sorted_reference(x, ids, ranks):
    """Per image and context, the values at the ranks by torch.sort (NaN if out of range)."""
    bsz, num = ranks.shape[:2]
    out = torch.full(ranks.shape, float('nan'), dtype=x.dtype)
    for b in range(bsz):
        for c in range(num):
            values = x[b][(ids[b] == c).any(0)].sort().values
            for q, r in enumerate(ranks[b, c].tolist()):
                if 1 <= r <= len(values):
                    out[b, c, q] = values[r - 1]
    return out


@pytest.mark.parametrize('wide', [False, True])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize(
    'grouping,levels,hdn_compat',
    [
        ('range', (1, 2, 4), False),
        ('range', (4, 2, 1), True),
        ('range', (1, 3), False),
        ('quantile', (1, 2, 4), True),
        ('spatial', (1, 2), False),
    ],
)
def test_select_ranks_matches_sort(monkeypatch, wide, dtype, grouping, levels, hdn_compat):
    """Both digit widths (16 bits on big maps: float32's two-pass path), both key sizes."""
    from mmdistilldepth.models.losses import selection

    monkeypatch.setattr(selection, 'WIDE_DIGITS_FROM', 1 if wide else 1 << 30)
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(4, 1, 9, 12, generator=g, dtype=dtype) * 3).round() / 2  # ties, signs
    x[0, 0, 0, :3] = torch.tensor([-0.0, 0.0, 1e-30], dtype=dtype)
    target = (torch.rand(4, 1, 9, 12, generator=g, dtype=dtype) * 8).round()  # ties at edges
    mask = torch.rand(4, 1, 9, 12, generator=g) > 0.3
    mask[2] = False  # empty contexts
    mask[2, 0, 0, 0] = True  # single-element contexts
    mask[3] = True
    contexts = build_contexts(target, mask, 'hybrid', grouping, levels, hdn_compat)
    assert contexts.nested == (grouping != 'spatial' and 3 not in levels)
    ids = [contexts.ids[:, level] for level in range(len(levels))]
    ranks = median_ranks(contexts.counts, hdn_compat)
    lower = torch.randint(1, 60, ranks[1, :, :1].shape, generator=g)  # any ranks
    ranks[1] = torch.cat([lower, lower + torch.randint(0, 2, lower.shape, generator=g)], 1)[
        :, : ranks.shape[-1]
    ]
    flat = x.flatten(1)
    expected = sorted_reference(flat, contexts.ids, ranks)
    found = ~expected.isnan()
    assert (contexts.counts == 0).any() and (contexts.counts[2] <= 1).all()
    for nested in {False, contexts.nested}:
        keys, pixels = select_ranks(order_keys(flat), ids, contexts.sizes, ranks, nested, True)
        assert torch.equal(key_values(keys)[found], expected[found])
        at_pixels = flat.gather(1, pixels.flatten(1)).view(pixels.shape)
        assert torch.equal(at_pixels[found], expected[found])
        # the pixel lies in its context
        context = torch.arange(contexts.num_contexts).view(1, -1, 1).expand_as(pixels)
        ids_at = contexts.ids.gather(2, pixels.flatten(1).unsqueeze(1).expand(-1, len(levels), -1))
        inside = (ids_at.view(4, len(levels), *pixels.shape[1:]) == context.unsqueeze(1)).any(1)
        assert inside[found].all()
        _, none = select_ranks(order_keys(flat), ids, contexts.sizes, ranks, nested)
        assert none is None


def test_nested_bins_equal_direct_bins():
    """Power-of-two range bins nest exactly: every coarse id is a finest id shifted."""
    g = torch.Generator().manual_seed(2)
    for dtype in (torch.float32, torch.float64):
        target = torch.rand(3, 1, 16, 16, generator=g, dtype=dtype) * 7 - 2
        target[0] = (target[0] * 4).round() / 4  # values on the bin edges
        mask = torch.rand(3, 1, 16, 16, generator=g) > 0.2
        for hdn_compat in (False, True):
            ctx = build_contexts(target, mask, 'hybrid', 'range', (1, 2, 4, 8), hdn_compat)
            num, fine = ctx.num_contexts, ctx.ids[:, 3]
            local = fine - 7
            for level, (offset, size) in enumerate(zip(ctx.offsets, ctx.sizes)):
                derived = torch.where(fine < num, local // (8 // size) + offset, num)
                assert torch.equal(ctx.ids[:, level], derived)


def test_bin_sums_is_a_differentiable_scatter_add():
    from mmdistilldepth.models.losses.contexts import bin_sums

    g = torch.Generator().manual_seed(3)
    index = torch.randint(0, 5, (2, 30), generator=g)
    values = torch.rand(2, 30, generator=g, dtype=torch.float64, requires_grad=True)
    expected = torch.zeros(2, 5, dtype=torch.float64).scatter_add(1, index, values)
    torch.testing.assert_close(bin_sums(index, values, 5), expected, rtol=0, atol=0)
    counts = bin_sums(index, torch.ones(1, 1, dtype=torch.int32), 5)
    assert counts.dtype == torch.int32 and torch.equal(counts.sum(1), torch.tensor([30, 30]))
    assert torch.autograd.gradcheck(lambda v: bin_sums(index, v, 5), (values,))


def test_select_row_ranks_matches_sort():
    """Order statistics of each row's valid keys, ties and signed zeros included."""
    from mmdistilldepth.models.losses.selection import select_row_ranks

    g = torch.Generator().manual_seed(4)
    x = (torch.randn(3, 500, generator=g) * 4).round() / 2
    x[0, :3] = torch.tensor([-0.0, 0.0, 1e-30])
    x[1, :250] = torch.rand(250, generator=g) * 1e6  # high halves far apart
    valid = torch.rand(3, 500, generator=g) > 0.3
    valid[2] = False
    valid[2, 7] = True  # a single valid value
    n_valid = valid.sum(1)
    ranks = torch.stack([torch.randint(1, int(n) + 1, (9,), generator=g) for n in n_valid])
    ranks[:, 0], ranks[:, 1] = 1, n_valid  # both ends
    ranks[:, 2] = ranks[:, 3]  # a repeated rank
    keys = select_row_ranks(order_keys(x), valid, ranks)
    for b in range(3):
        expected = x[b][valid[b]].sort().values[ranks[b] - 1]
        assert torch.equal(key_values(keys[b]), expected)


@pytest.mark.parametrize('grouping', ['range', 'quantile'])
@pytest.mark.parametrize('hdn_compat', [False, True])
@pytest.mark.parametrize('levels', [(1, 2, 4), (1, 3)])
def test_source_medians_by_rows_equal_medians_by_contexts(
    monkeypatch, grouping, hdn_compat, levels
):
    """The target's medians in its own value bins: one selection per image, the same keys."""
    from mmdistilldepth.models.losses import selection
    from mmdistilldepth.models.losses.normalization import _select_medians

    monkeypatch.setattr(selection, 'WIDE_DIGITS_FROM', 1)
    g = torch.Generator().manual_seed(5)
    target = (torch.rand(3, 1, 20, 24, generator=g) * 40).round() / 7 - 2  # ties at edges
    mask = torch.rand(3, 1, 20, 24, generator=g) > 0.2
    mask[2] = False
    mask[2, 0, 0, :3] = True
    contexts = build_contexts(target, mask, 'hybrid', grouping, levels, hdn_compat)
    flat = torch.where(mask, target, 0).flatten(1)
    by_rows, _ = _select_medians(flat, contexts, hdn_compat, False, is_source=True)
    by_contexts, _ = _select_medians(flat, contexts, hdn_compat, False, is_source=False)
    occupied = (contexts.counts > 0).unsqueeze(-1).expand_as(by_rows)
    assert torch.equal(by_rows[occupied], by_contexts[occupied])


def test_context_sums_equal_a_plain_scatter():
    g = torch.Generator().manual_seed(6)
    target = torch.rand(2, 1, 30, 40, generator=g)
    mask = torch.rand(2, 1, 30, 40, generator=g) > 0.1
    contexts = build_contexts(target, mask, 'hybrid', 'range', (1, 2, 4))
    values = torch.rand(2, 3, 1200, generator=g, dtype=torch.float64)
    num = contexts.num_contexts
    expected = torch.zeros(2, num + 1, dtype=torch.float64)
    expected.scatter_add_(1, contexts.ids.flatten(1), values.flatten(1))
    torch.testing.assert_close(contexts.sums(values), expected[:, :num], rtol=1e-12, atol=0)
    counts = torch.zeros(2, num + 1, dtype=torch.long).scatter_add_(
        1, contexts.ids.flatten(1), torch.ones(2, 3600, dtype=torch.long)
    )
    assert torch.equal(contexts.counts, counts[:, :num])
