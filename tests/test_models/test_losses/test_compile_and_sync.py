"""The losses run with fixed shapes: no host synchronization, and they compile whole."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mmdistilldepth.models.losses import (
    FeatureAlignmentLoss,
    GradientMatchingLoss,
    NormalizedL1Loss,
)
from tests.test_models.test_losses.conftest import random_maps

# Ops whose output shape depends on tensor values, or that read a value back to the
# host: on a GPU each one stalls the stream until the device catches up.
SYNCING = {
    'nonzero',
    'nonzero_static',
    '_local_scalar_dense',
    'masked_select',
    'masked_scatter',
    'unique',
    '_unique',
    '_unique2',
    'unique_dim',
    'unique_consecutive',
    'bincount',
    'repeat_interleave',
    'item',
}


class RecordOps(TorchDispatchMode):
    """Records the name of every aten op dispatched, and whether a bool mask indexes."""

    def __init__(self):
        super().__init__()
        self.names, self.bool_indexing = set(), []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        self.names.add(name)
        if name in ('index', 'index_put', 'index_put_', '_index_put_impl_'):
            indices = args[1] if len(args) > 1 else []
            if any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices):
                self.bool_indexing.append(name)
        return func(*args, **(kwargs or {}))


CASES = [
    dict(normalization=n, grouping=g, hdn_compat=c)
    for n, g in [
        ('global', 'range'),
        ('hybrid', 'range'),
        ('hybrid', 'quantile'),
        ('hybrid', 'spatial'),
        ('local', 'quantile'),
        ('none', 'range'),
    ]
    for c in (False, True)
]


def forward_backward(loss, pred, target, mask):
    pred = pred.detach().requires_grad_()
    value = loss(pred, target, mask)
    value.backward()
    return value.detach(), pred.grad


@pytest.mark.parametrize('cfg', CASES, ids=lambda c: '-'.join(map(str, c.values())))
def test_normalized_l1_dispatches_no_syncing_op(cfg):
    pred, target, mask = random_maps(shape=(2, 1, 12, 12))
    with RecordOps() as ops:
        forward_backward(NormalizedL1Loss(**cfg), pred, target, mask)
    assert not ops.names & SYNCING, ops.names & SYNCING
    assert not ops.bool_indexing
    # the mode does see the loss's ops (the package's histogram operator)
    assert 'bin_sums' in ops.names or cfg['normalization'] == 'none'


def test_other_losses_dispatch_no_syncing_op():
    pred, target, mask = random_maps(shape=(2, 1, 12, 12))
    feats = torch.randn(2, 9, 16, dtype=torch.float64)
    with RecordOps() as ops:
        forward_backward(GradientMatchingLoss(), pred, target, mask)
        forward_backward(
            FeatureAlignmentLoss(), feats + torch.randn_like(feats), feats, torch.rand(2, 9) > 0.3
        )
    assert not ops.names & SYNCING, ops.names & SYNCING
    assert not ops.bool_indexing


def test_torch_compile_fullgraph_matches_eager():
    torch._dynamo.reset()
    pred, target, mask = random_maps(shape=(2, 1, 12, 16))
    loss = NormalizedL1Loss(normalization='hybrid', grouping='range')
    compiled = torch.compile(loss, fullgraph=True)
    value, grad = forward_backward(compiled, pred, target, mask)
    ref_value, ref_grad = forward_backward(loss, pred, target, mask)
    torch.testing.assert_close(value, ref_value, rtol=1e-12, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize('grouping', ['range', 'spatial'])
def test_float32_fast_paths_compile_and_do_not_sync(monkeypatch, grouping):
    """float32 maps take the two-pass selection and (range) the target's row selection,
    which only big maps reach: made reachable here by lowering the size bound.
    """
    from mmdistilldepth.models.losses import selection

    monkeypatch.setattr(selection, 'WIDE_DIGITS_FROM', 1)
    torch._dynamo.reset()
    pred, target, mask = (
        x if x.dtype == torch.bool else x.float() for x in random_maps(shape=(2, 1, 12, 16))
    )
    loss = NormalizedL1Loss(normalization='hybrid', grouping=grouping)
    with RecordOps() as ops:
        ref_value, ref_grad = forward_backward(loss, pred, target, mask)
    assert not ops.names & SYNCING, ops.names & SYNCING
    assert not ops.bool_indexing
    value, grad = forward_backward(torch.compile(loss, fullgraph=True), pred, target, mask)
    torch.testing.assert_close(value, ref_value, rtol=1e-5, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-8)
