"""The compiled CPU path of NormalizedL1Loss against the torch path."""
import itertools

import pytest
import torch

from mmdistilldepth.models.losses import native, normalized_l1_loss
from tests.test_models.test_losses.conftest import random_maps, require_native

NORMALIZED = [('global', 'range'), ('hybrid', 'range'), ('hybrid', 'quantile'),
              ('hybrid', 'spatial'), ('local', 'range'), ('local', 'quantile'),
              ('local', 'spatial')]


@pytest.fixture(autouse=True)
def _compiled():
    require_native()


def both_paths(pred, target, mask, **kwargs):
    """Loss and gradient on the torch path and on the compiled one."""
    out = []
    for backend in ('torch', 'native'):
        leaf = pred.detach().clone().requires_grad_()
        loss = normalized_l1_loss(leaf, target, mask, backend=backend, **kwargs)
        loss.backward()
        out.append((loss.detach(), leaf.grad))
    return out


def assert_same(pair, rtol):
    (loss_t, grad_t), (loss_n, grad_n) = pair
    torch.testing.assert_close(loss_n, loss_t, rtol=rtol, atol=0)
    scale = grad_t.abs().max().clamp(min=1e-30)
    torch.testing.assert_close(grad_n / scale, grad_t / scale, rtol=0, atol=rtol)


@pytest.mark.parametrize('hdn_compat', [False, True])
@pytest.mark.parametrize('normalization,grouping', NORMALIZED)
def test_same_loss_and_gradient_as_torch(normalization, grouping, hdn_compat):
    # non-square maps, a mask, an image without valid pixels; HDN's spatial tiles
    # need square maps
    shape = (3, 1, 37, 37) if grouping == 'spatial' and hdn_compat else (3, 1, 37, 45)
    pred, target, mask = random_maps(shape=shape, seed=1)
    mask[2] = False
    pair = both_paths(pred, target, mask, normalization=normalization, grouping=grouping,
                      hdn_compat=hdn_compat)
    assert_same(pair, rtol=1e-12)
    assert pair[0][0] > 0


@pytest.mark.parametrize('normalization,grouping', NORMALIZED)
def test_ties_plateaus_and_outliers(normalization, grouping):
    """Few distinct values (every median bucket full of ties), a far outlier that
    squeezes the other values into a few histogram buckets, and a constant image."""
    g = torch.Generator().manual_seed(3)
    target = torch.randint(0, 5, (3, 1, 50, 64), generator=g).double() + 1
    pred = torch.randint(0, 7, (3, 1, 50, 64), generator=g).double()
    pred[0, 0, 0, 0] = 1e6
    target[1, 0, 5, 5] = 1e5
    pred[2] = 4.0
    mask = torch.rand(3, 1, 50, 64, generator=g) > 0.2
    (loss_t, grad_t), (loss_n, grad_n) = both_paths(
        pred, target, mask, normalization=normalization, grouping=grouping)
    torch.testing.assert_close(loss_n, loss_t, rtol=1e-10, atol=0)
    # A median's gradient goes to one of the pixels holding its value; among ties the
    # two paths may pick different ones (both are valid subgradients). Elsewhere the
    # gradients agree, and they differ at most at two pixels per context.
    contexts = 3 * (1 + 2 + 4 if normalization == 'hybrid' else 1)
    if grouping == 'spatial':
        contexts = 3 * (1 + 4 + 16 if normalization == 'hybrid' else 16)
    elif normalization == 'local':
        contexts = 3 * 4
    scale = float(grad_t.abs().max())
    differ = ~torch.isclose(grad_n, grad_t, rtol=1e-9, atol=1e-12 * scale)
    assert int(differ.sum()) <= 2 * 2 * contexts
    # the loss is shift-invariant, so on both paths the gradient sums to 0
    assert abs(float(grad_n.sum())) < 1e-10 * scale
    assert abs(float(grad_t.sum())) < 1e-10 * scale


@pytest.mark.parametrize('simd', [True, False])
@pytest.mark.parametrize('normalization,grouping', NORMALIZED)
def test_float32_close_to_torch(monkeypatch, normalization, grouping, simd):
    """float32 runs AVX2 kernels where the CPU has them; both they and the scalar
    code must match torch (and each other: the same operations in the same order)."""
    monkeypatch.setattr(native, 'SIMD', simd)
    # 63 x 83 pixels: not a multiple of 8, so the vector loops have a scalar tail
    pred, target, mask = random_maps(shape=(2, 1, 63, 83), seed=2, dtype=torch.float32)
    pair = both_paths(pred, target, mask, normalization=normalization, grouping=grouping)
    assert_same(pair, rtol=1e-5)
    monkeypatch.setattr(native, 'SIMD', not simd)
    other = both_paths(pred, target, mask, normalization=normalization, grouping=grouping)
    torch.testing.assert_close(other[1][0], pair[1][0], rtol=1e-6, atol=0)
    torch.testing.assert_close(other[1][1], pair[1][1], rtol=0,
                               atol=1e-6 * float(pair[1][1].abs().max()))


def test_invalid_pixels_are_never_read():
    pred, target, mask = random_maps(shape=(2, 1, 20, 30), seed=4)
    clean = normalized_l1_loss(pred, target, mask, backend='native')
    pred, target = pred.clone(), target.clone()
    pred[~mask], target[~mask] = float('nan'), float('inf')
    leaf = pred.requires_grad_()
    loss = normalized_l1_loss(leaf, target, mask, backend='native')
    loss.backward()
    assert loss == clean
    assert torch.isfinite(leaf.grad).all() and (leaf.grad[~mask] == 0).all()


def test_threads_give_the_same_result():
    pred, target, mask = random_maps(shape=(4, 1, 33, 47), seed=5)
    threads = torch.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            torch.set_num_threads(n)
            results.append(both_paths(pred, target, mask, normalization='hybrid')[1])
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_levels_that_do_not_nest_use_the_torch_path():
    pred, target, mask = random_maps(shape=(2, 1, 24, 30), seed=6)
    args = (pred, target, mask, 'hybrid', 'range', (1, 3, 4), False, 1e-6)
    assert native.normalized_l1(*args) is None
    assert native.normalized_l1(pred, target, mask, 'hybrid', 'range', (1, 2, 4), False,
                                1e-6) is not None
    torch.testing.assert_close(
        normalized_l1_loss(pred, target, mask, levels=(1, 3, 4)),
        normalized_l1_loss(pred, target, mask, levels=(1, 3, 4), backend='torch'))


def test_non_finite_prediction_falls_back_to_torch():
    pred, target, mask = random_maps(shape=(2, 1, 10, 12), seed=7)
    pred[0, 0, 3, 3] = float('inf')
    mask[0, 0, 3, 3] = True
    assert native.normalized_l1(pred, target, mask, 'hybrid', 'range', (1, 2, 4), False,
                                1e-6) is None
    assert torch.isnan(normalized_l1_loss(pred, target, mask))


def test_without_a_compiler(monkeypatch, tmp_path):
    """'auto' warns once and uses torch; 'native' says what is missing."""
    monkeypatch.setenv('CC', str(tmp_path / 'no-such-compiler'))
    monkeypatch.setenv('MDD_CACHE_DIR', str(tmp_path / 'cache'))
    monkeypatch.setattr(native, '_libraries', {})
    monkeypatch.setattr(native, '_warned', False)
    pred, target, mask = random_maps(shape=(2, 1, 10, 12), seed=8)
    with pytest.warns(UserWarning, match='compiled CPU path is unavailable'):
        loss = normalized_l1_loss(pred, target, mask)
    assert loss == normalized_l1_loss(pred, target, mask, backend='torch')
    with pytest.raises(native.NativeUnavailable, match='no C compiler'):
        normalized_l1_loss(pred, target, mask, backend='native')


def test_unwritable_cache_folder_falls_back_with_the_fix(monkeypatch, tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    monkeypatch.setenv('MDD_CACHE_DIR', str(blocker / 'cache'))  # under a file: unwritable
    monkeypatch.setattr(native, '_libraries', {})
    monkeypatch.setattr(native, '_warned', False)
    pred, target, mask = random_maps(shape=(2, 1, 6, 7), seed=10)
    with pytest.raises(native.NativeUnavailable, match='set MDD_CACHE_DIR'):
        normalized_l1_loss(pred, target, mask, backend='native')
    with pytest.warns(UserWarning, match='MDD_CACHE_DIR'):
        normalized_l1_loss(pred, target, mask)


def test_build_is_cached_per_source(monkeypatch, tmp_path):
    monkeypatch.setenv('MDD_CACHE_DIR', str(tmp_path))
    monkeypatch.setattr(native, '_libraries', {})
    native.library(torch.float32)
    built = sorted(p.name for p in tmp_path.iterdir())
    assert len(built) == 1 and built[0].startswith('normalized_l1_float_')
    monkeypatch.setattr(native, '_libraries', {})
    native.library(torch.float32)  # loads the cached file, builds nothing new
    assert sorted(p.name for p in tmp_path.iterdir()) == built


def test_every_setting_runs_compiled():
    """Guards against a silent fallback: each supported setting takes this path."""
    # square maps, which HDN's spatial tiles need
    pred, target, mask = random_maps(shape=(2, 1, 16, 16), seed=9)
    for (normalization, grouping), hdn in itertools.product(NORMALIZED, (False, True)):
        assert native.normalized_l1(pred, target, mask, normalization, grouping,
                                    (1, 2, 4), hdn, 1e-6) is not None
