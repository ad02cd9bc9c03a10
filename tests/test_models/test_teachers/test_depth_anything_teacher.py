import pytest
import torch
import torch.nn.functional as F

from mmdistilldepth.models.teachers.base_teacher import BaseTeacher
from mmdistilldepth.models.teachers.depth_anything_teacher import DepthAnythingTeacher
from mmdistilldepth.registry import MODELS

MODEL = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=4, num_heads=2, layer_idx=(0, 1, 2, 3)),
    features=16,
    out_channels=[8, 16, 24, 48],
)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _teacher(**kwargs):
    torch.manual_seed(0)
    teacher = MODELS.build(dict(type='DepthAnythingTeacher', model=MODEL, **kwargs))
    with torch.no_grad():  # keep outputs positive, so the comparisons are not all zeros
        teacher.model.depth_head.scratch.output_conv2[2].bias.fill_(1.0)
    return teacher


def test_frozen_forever():
    teacher = _teacher()
    assert isinstance(teacher, BaseTeacher)
    teacher.train()
    assert not teacher.training and not teacher.model.training
    assert not any(p.requires_grad for p in teacher.parameters())
    out = teacher.predict(torch.rand(1, 3, 28, 28, requires_grad=True))
    assert not out.requires_grad


def test_normalizes_and_runs_at_the_view_size():
    teacher = _teacher()
    images = torch.rand(2, 3, 28, 42)
    out = teacher.predict(images)
    with torch.no_grad():
        expected = teacher.model((images - MEAN) / STD)
    assert out.dtype == torch.float32 and out.shape == (2, 1, 28, 42)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize(
    'input_size,view,network',
    [
        (None, (50, 60), (56, 56)),  # rounded to the nearest multiples of 14
        (28, (20, 30), (28, 42)),  # official lower-bound resize
    ],
)
def test_resizes_to_the_network_and_back(monkeypatch, input_size, view, network):
    teacher = _teacher(input_size=input_size)
    seen = []
    forward = teacher.model.forward

    def spy(x, *args, **kwargs):
        seen.append(tuple(x.shape[-2:]))
        return forward(x, *args, **kwargs)

    monkeypatch.setattr(teacher.model, 'forward', spy)
    images = torch.rand(1, 3, *view)
    out = teacher.predict(images)
    assert seen == [network] and out.shape == (1, 1, *view)
    with torch.no_grad():
        x = F.interpolate((images - MEAN) / STD, network, mode='bicubic', align_corners=False)
        expected = F.interpolate(forward(x), view, mode='bilinear', align_corners=True)
    torch.testing.assert_close(out, expected)


def test_loads_a_checkpoint(tmp_path):
    torch.manual_seed(3)
    src = MODELS.build(MODEL)
    torch.save(src.state_dict(), tmp_path / 'teacher.pth')
    teacher = DepthAnythingTeacher(model=MODEL, checkpoint=str(tmp_path / 'teacher.pth'))
    assert teacher.layout == 'dav2'
    assert torch.equal(teacher.model.pretrained.cls_token, src.pretrained.cls_token)
