import pytest
import torch
from mmengine.logging import MessageHub

from mmdistilldepth.models.teachers.assistant_guided_teacher import (
    AssistantGuidedTeacher,
    align_scale_shift,
)
from mmdistilldepth.models.teachers.base_teacher import BaseTeacher
from mmdistilldepth.registry import MODELS


@MODELS.register_module(force=True)
class _ConstTeacher(BaseTeacher):
    """Returns a fixed map times ``value``; counts its calls."""

    def __init__(self, value: float = 1.0):
        super().__init__()
        self.value = value
        self.calls = 0

    def _predict(self, images, gt_depth=None):
        self.calls += 1
        ramp = torch.linspace(1, 2, images.shape[-1]).expand(images.shape[0], 1, *images.shape[-2:])
        return ramp * self.value


def _teacher(**kw):
    return AssistantGuidedTeacher(
        dict(type='_ConstTeacher', value=1.0), dict(type='_ConstTeacher', value=3.0), **kw
    )


def test_select_ratio_one_call_and_deterministic():
    t = _teacher(mode='select', assistant_prob=0.3, seed=5)
    choices = [t.choose(i) for i in range(2000)]
    assert abs(choices.count('assistant') / 2000 - 0.3) < 0.04
    assert choices == [
        _teacher(mode='select', assistant_prob=0.3, seed=5).choose(i) for i in range(2000)
    ]
    x = torch.rand(2, 3, 4, 6)
    for _ in range(10):
        t.predict(x)
    assert t.primary.calls + t.assistant.calls == 10  # one teacher call per iteration


def test_select_follows_the_runner_iteration():
    hub = MessageHub.get_instance('assistant-test')
    t = _teacher(mode='select', assistant_prob=0.5, seed=1)
    x = torch.rand(1, 3, 4, 6)
    for it in (3, 3, 17):
        hub.update_info('iter', it)
        out = t.predict(x)
        expected = 3.0 if t.choose(it) == 'assistant' else 1.0
        assert t.last_choice == t.choose(it)
        torch.testing.assert_close(out[0, 0, 0, -1], torch.tensor(2.0 * expected))


def test_avg_agreeing_teachers_average_after_alignment():
    t = _teacher(mode='avg')
    out = t.predict(torch.rand(2, 3, 5, 7))
    # the assistant is 3x the primary: aligned, they agree exactly -> the primary
    torch.testing.assert_close(out, t.primary.predict(torch.rand(2, 3, 5, 7)))


def test_align_scale_shift_exact():
    src = torch.rand(3, 1, 8, 8)
    tgt = 2.5 * src + 0.7
    torch.testing.assert_close(align_scale_shift(src, tgt), tgt, atol=1e-5, rtol=1e-5)


def test_bad_mode():
    with pytest.raises(ValueError, match='mode'):
        _teacher(mode='mix')
