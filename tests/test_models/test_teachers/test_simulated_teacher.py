import pytest
import torch

from mmdistilldepth.models.teachers import SimulatedTeacher


def _depth(b=2, h=64, w=64):
    y = torch.linspace(1, 8, h).view(1, 1, h, 1).expand(b, 1, h, w).clone()
    y[:, :, 10:20, 30:50] = 1.5  # a near box with sharp edges
    return y


def test_frozen_and_eval_forever():
    t = SimulatedTeacher()
    t.train()
    assert not t.training
    assert all(not p.requires_grad for p in t.parameters())


def test_needs_depth():
    with pytest.raises(ValueError, match='true depth'):
        SimulatedTeacher().predict(torch.rand(1, 3, 8, 8))


def test_deterministic_per_view_and_affine_of_truth():
    t = SimulatedTeacher(noise_amplitude=0.0, internal_size=64)
    d = _depth()
    a = t.predict(torch.rand(2, 3, 64, 64), gt_depth=d)
    b = t.predict(torch.rand(2, 3, 64, 64), gt_depth=d)
    torch.testing.assert_close(a, b)
    assert a.shape == (2, 1, 64, 64)
    # without noise and at full resolution: an exact positive affine map of 1/depth
    truth = 1 / d
    for i in range(2):
        x = torch.stack([truth[i].flatten(), torch.ones(truth[i].numel())], 1)
        sol = torch.linalg.lstsq(x.double(), a[i].flatten().double()[:, None]).solution
        assert sol[0] > 0
        torch.testing.assert_close(
            (x.double() @ sol).flatten(), a[i].flatten().double(), atol=1e-4, rtol=1e-4
        )


def test_low_internal_resolution_blurs_edges():
    d = _depth()
    sharp = SimulatedTeacher(noise_amplitude=0.0, internal_size=64).predict(
        torch.zeros(2, 3, 64, 64), gt_depth=d
    )
    blurred = SimulatedTeacher(noise_amplitude=0.0, internal_size=8).predict(
        torch.zeros(2, 3, 64, 64), gt_depth=d
    )

    def edge(x):  # normalized strength of the box's left edge
        x = (x - x.mean()) / x.std()
        return (x[..., 12:18, 29] - x[..., 12:18, 31]).abs().mean()

    assert edge(blurred) < 0.5 * edge(sharp)
