"""BaseTeacher.max_batch: the teacher runs on micro-batches, with the same result."""

import torch

from mmdistilldepth.models.teachers.base_teacher import BaseTeacher
from mmdistilldepth.registry import MODELS

MODEL = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=2, num_heads=2, layer_idx=(0, 1, 1, 1)),
    features=16,
    out_channels=[8, 16, 24, 48],
)


def test_depth_anything_teacher_micro_batches_match_one_call():
    torch.manual_seed(0)
    teacher = MODELS.build(dict(type='DepthAnythingTeacher', model=MODEL, max_batch=2))
    assert teacher.max_batch == 2
    calls = []
    teacher.model.register_forward_pre_hook(lambda m, args: calls.append(args[0].shape[0]))
    images = torch.rand(5, 3, 28, 28)
    chunked = teacher.predict(images)
    assert calls == [2, 2, 1]
    teacher.max_batch = None
    whole = teacher.predict(images)
    assert calls[3:] == [5]
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)


def test_gt_depth_is_chunked_with_the_images():
    seen = []

    class Echo(BaseTeacher):
        uses_gt_depth = True

        def _predict(self, images, gt_depth=None):
            seen.append((images.shape[0], gt_depth.shape[0]))
            return gt_depth

    teacher = Echo()
    teacher.max_batch = 3
    depth = torch.arange(7.0).view(7, 1, 1, 1).expand(7, 1, 2, 2)
    out = teacher.predict(torch.zeros(7, 3, 2, 2), gt_depth=depth)
    assert seen == [(3, 3), (3, 3), (1, 1)]
    torch.testing.assert_close(out, depth)
