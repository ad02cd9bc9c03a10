"""A non-finite teacher output, loss or gradient skips the update, counted; the run goes on."""

import copy

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper

from mmdistilldepth.datasets import CrossContextCrops, PackDepthInputs, SyntheticScenes
from mmdistilldepth.engine import NONFINITE_KEY, AutocastOptimWrapper, SkipNonFiniteOptimWrapper
from mmdistilldepth.registry import MODELS, OPTIM_WRAPPERS
from mmdistilldepth.utils import register_all_modules

register_all_modules()


@pytest.fixture
def hub():
    """A fresh message hub, as the runner makes one per run, at iteration 7."""
    hub = MessageHub.get_instance(f'nonfinite-{np.random.randint(1 << 30)}')
    hub.update_info('iter', 7)
    yield hub


def _toy(wrapper_type=SkipNonFiniteOptimWrapper, **kwargs):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    return model, wrapper_type(optimizer=optimizer, **kwargs)


def _state(model, wrapper):
    return (copy.deepcopy(model.state_dict()), copy.deepcopy(wrapper.optimizer.state_dict()))


def _assert_same(a, b):
    for x, y in zip(a[0].values(), b[0].values()):
        assert torch.equal(x, y)
    assert a[1]['state'].keys() == b[1]['state'].keys()
    for key, value in a[1]['state'].items():
        for name, tensor in value.items():
            assert torch.equal(tensor, b[1]['state'][key][name])


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_a_non_finite_loss_skips_the_update_and_is_counted(hub, warnings_log, bad):
    model, wrapper = _toy()
    x = torch.ones(4, 3)
    wrapper.update_params(model(x).pow(2).mean())  # one real step first
    before = _state(model, wrapper)
    wrapper.update_params(model(x).mean() * bad)
    _assert_same(before, _state(model, wrapper))  # no weight change, no Adam step
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    assert wrapper.nonfinite_skipped == 1 and hub.get_scalar(NONFINITE_KEY).current() == 1
    assert wrapper._inner_count == 2  # the iteration still counts
    assert any(
        'iteration 7: skipped the optimizer update, the loss is' in m
        and '1 skipped in this run' in m
        for m in warnings_log
    )
    # the next finite iteration updates as usual, and matches a run that never saw it
    wrapper.update_params(model(x).pow(2).mean())
    reference, ref_wrapper = _toy(OptimWrapper)
    for _ in range(2):
        ref_wrapper.update_params(reference(x).pow(2).mean())
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert hub.get_scalar(NONFINITE_KEY).current() == 1  # logged every iteration


def test_a_non_finite_gradient_skips_the_step(hub, warnings_log):
    model, wrapper = _toy(clip_grad=dict(max_norm=1.0))
    before = _state(model, wrapper)
    # finite loss, infinite gradient: d/dx sqrt(x) at 0
    loss = torch.sqrt(model.weight.abs().sum() * 0)
    wrapper.update_params(loss)
    _assert_same(before, _state(model, wrapper))
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    assert wrapper.nonfinite_skipped == 1
    assert any('a gradient is not finite' in m for m in warnings_log)


def test_autocast_wrapper_is_guarded_too(hub):
    model, wrapper = _toy(AutocastOptimWrapper)
    before = _state(model, wrapper)
    with wrapper.optim_context(model):
        loss = model(torch.ones(2, 3)).float().mean() * float('nan')
    wrapper.update_params(loss)
    _assert_same(before, _state(model, wrapper))
    assert wrapper.nonfinite_skipped == 1


def test_registered_and_counts_continue_from_the_message_hub(hub):
    hub.update_scalar(NONFINITE_KEY, 4)  # as restored from a checkpoint on resume
    model, wrapper = _toy(OPTIM_WRAPPERS.get('SkipNonFiniteOptimWrapper'))
    wrapper.update_params(model(torch.ones(1, 3)).sum() * float('nan'))
    assert hub.get_scalar(NONFINITE_KEY).current() == 5


STUDENT = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=2, num_heads=2, layer_idx=(0, 1, 1, 1)),
    features=16,
    out_channels=(8, 16, 32, 32),
)


def _distiller_and_batch():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='CrossContextDistiller',
            student=STUDENT,
            teacher=dict(type='SimulatedTeacher', internal_size=16),
            train_size=(42, 42),
            loss_sc=dict(type='NormalizedL1Loss', normalization='hybrid'),
            loss_lg=dict(type='NormalizedL1Loss', normalization='hybrid'),
            loss_grad=dict(type='GradientMatchingLoss', scales=2),
        )
    )
    pipeline = [
        CrossContextCrops(num_local=2, seed=0),
        PackDepthInputs(meta_keys=('shared_box', 'local_boxes')),
    ]
    dataset = SyntheticScenes(num_samples=2, height=56, width=56, seed=3, pipeline=pipeline)
    return model, pseudo_collate([dataset[0], dataset[1]])


def test_distiller_skips_an_iteration_whose_teacher_output_is_not_finite(hub, warnings_log):
    model, batch = _distiller_and_batch()
    wrapper = SkipNonFiniteOptimWrapper(optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3))
    calls = []
    predict = model.teacher.predict

    def broken_teacher(images, gt_depth=None):
        calls.append(len(images))
        pred = predict(images, gt_depth=gt_depth).clone()
        pred[0, 0, 0, 0] = float('nan')  # a single bad pixel is enough
        return pred

    model.teacher.predict = broken_teacher
    before = copy.deepcopy(model.student.state_dict())
    log_vars = model.train_step(batch, wrapper)
    assert calls == [2 + 2 * 2]  # still ONE teacher call on [V_s; V_l]
    assert not any(k.startswith('loss') for k in log_vars)  # NaN terms left out of the log
    for k, v in model.student.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert wrapper.nonfinite_skipped == 1
    assert any('teacher output has 1 non-finite values' in m for m in warnings_log)
    assert any('non-finite loss terms' in m for m in warnings_log)

    model.teacher.predict = predict  # the next iteration trains as usual
    log_vars = model.train_step(batch, wrapper)
    assert {'loss', 'loss_sc', 'loss_lg', 'loss_grad'} <= set(log_vars)
    assert all(torch.isfinite(v) for v in log_vars.values())
    assert any(not torch.equal(v, before[k]) for k, v in model.student.state_dict().items())
    assert wrapper.nonfinite_skipped == 1


def test_amp_wrapper_counts_the_steps_its_loss_scaler_skips(hub, warnings_log, monkeypatch):
    """fp16 AMP needs CUDA; its loss scaler also runs on the CPU, which this emulates."""
    import functools

    from mmengine.optim.optimizer import amp_optimizer_wrapper

    from mmdistilldepth.engine import SkipNonFiniteAmpOptimWrapper

    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)
    monkeypatch.setattr(
        amp_optimizer_wrapper, 'GradScaler', functools.partial(torch.amp.GradScaler, 'cpu')
    )
    model, wrapper = _toy(SkipNonFiniteAmpOptimWrapper)
    x = torch.ones(4, 3)
    wrapper.update_params(model(x).pow(2).mean())
    before, scale = _state(model, wrapper), wrapper.loss_scaler.get_scale()
    wrapper.update_params(model(x).mean() * float('nan'))
    _assert_same(before, _state(model, wrapper))
    assert wrapper.loss_scaler.get_scale() < scale  # the scaler skipped the step
    assert wrapper.nonfinite_skipped == 1
    assert any('the loss is nan (1 skipped in this run)' in m for m in warnings_log)
