import pytest
import torch
from mmengine.dataset import pseudo_collate

from mmdistilldepth.datasets import SyntheticScenes
from mmdistilldepth.registry import MODELS
from mmdistilldepth.utils import register_all_modules

register_all_modules()

STUDENT = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=2, num_heads=2, layer_idx=(0, 1, 1, 1)),
    features=16,
    out_channels=(8, 16, 32, 32),
)


def _model(**kw):
    cfg = dict(
        type='CrossContextDistiller',
        student=STUDENT,
        teacher=dict(type='SimulatedTeacher', internal_size=16),
        train_size=(56, 56),
        loss_sc=dict(type='NormalizedL1Loss', normalization='hybrid'),
        loss_lg=dict(type='NormalizedL1Loss', normalization='hybrid'),
        loss_grad=dict(type='GradientMatchingLoss', scales=2),
        loss_feat=dict(type='FeatureAlignmentLoss'),
    )
    cfg.update(kw)
    return MODELS.build(cfg)


def _batch(model, num_local=3, b=2, shapes=None):
    """B synthetic scenes (70x84 by default: global views of 56x56 = train_size)."""
    pipeline = [
        dict(
            type='CrossContextCrops',
            global_size=56,
            shared_side=(60, None),
            local_size=56,
            num_local=num_local,
            seed=0,
        ),
        dict(type='PackDepthInputs', meta_keys=('scale_factor', 'shared_box', 'local_boxes')),
    ]
    shapes = shapes or [(70, 84)] * b
    samples = [
        SyntheticScenes(num_samples=1, height=h, width=w, seed=3 + i, pipeline=pipeline)[0]
        for i, (h, w) in enumerate(shapes)
    ]
    return model.data_preprocessor(pseudo_collate(samples), True)


def _count_calls(model):
    calls = dict(teacher=0, student=0, teacher_views=[], student_views=[])
    t_predict, s_forward = model.teacher.predict, model.student.forward_with_features

    def teacher(images, gt_depth=None):
        calls['teacher'] += 1
        calls['teacher_views'].append(len(images))
        calls.setdefault('teacher_sizes', []).append(tuple(images.shape[-2:]))
        return t_predict(images, gt_depth=gt_depth)

    def student(x):
        calls['student'] += 1
        calls['student_views'].append(len(x))
        calls.setdefault('student_sizes', []).append(tuple(x.shape[-2:]))
        return s_forward(x)

    model.teacher.predict = teacher
    model.student.forward_with_features = student
    return calls


@pytest.mark.parametrize('num_local', [1, 4])
def test_one_teacher_call_one_student_call(num_local):
    model = _model()
    data = _batch(model, num_local=num_local)
    calls = _count_calls(model)
    losses = model.loss(**data)
    assert set(losses) == {'loss_sc', 'loss_lg', 'loss_grad', 'loss_feat'}
    assert calls['teacher'] == 1 and calls['teacher_views'] == [2 * (1 + num_local)]
    assert calls['student'] == 1 and calls['student_views'] == [2 * 2]
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    # every student parameter learns, but those the official architecture never uses
    # either: the mask token, and refinenet4's first residual unit (single input)
    unused = ('pretrained.mask_token', 'depth_head.scratch.refinenet4.resConfUnit1.')
    no_grad = [n for n, p in model.student.named_parameters() if p.grad is None]
    assert no_grad and all(n.startswith(unused) for n in no_grad)


def test_teacher_stays_out_of_checkpoint_optimizer_and_train_mode():
    model = _model()
    assert not any(k.startswith(('teacher', '_frozen', 'feat_encoder')) for k in model.state_dict())
    assert all(k.startswith('student.') for k in model.state_dict())
    student_params = {id(p) for p in model.student.parameters()}
    assert {id(p) for p in model.parameters()} == student_params
    model.train()
    assert model.student.training
    assert not model.teacher.training and not model.feat_encoder.training
    assert all(not p.requires_grad for p in model.feat_encoder.parameters())


def test_feat_encoder_is_the_initial_student_encoder():
    model = _model()
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(1.0)
    model.init_weights()  # the runner calls this before loading any checkpoint
    for (k, a), (_, b) in zip(
        model.student.backbone.state_dict().items(), model.feat_encoder.state_dict().items()
    ):
        torch.testing.assert_close(a, b)


def test_switches_table2():
    # no shared context: the shared pair is the whole image (the global view)
    model = _model(shared_context=False, local_global=False)
    data = _batch(model)
    calls = _count_calls(model)
    losses = model.loss(**data)
    assert 'loss_lg' not in losses
    assert calls['teacher_views'] == [2] and calls['student_views'] == [2]
    with pytest.raises(ValueError, match='nothing to distill'):
        _model(loss_sc=None, local_global=False)


def test_local_global_only_gives_the_teacher_the_local_patches_only():
    model = _model(shared_context=False, loss_sc=None)
    data = _batch(model, num_local=4)
    calls = _count_calls(model)
    losses = model.loss(**data)
    assert set(losses) == {'loss_lg', 'loss_grad', 'loss_feat'}
    assert calls['teacher_views'] == [2 * 4] and calls['teacher_sizes'] == [(56, 56)]
    assert calls['student_views'] == [2]


def test_images_of_different_sizes_in_one_batch():
    """Landscape and portrait together: views cut from the padded originals, padding masked."""
    model = _model()
    data = _batch(model, num_local=4, shapes=[(84, 126), (112, 70)])
    assert data['inputs'].shape == (2, 3, 112, 126)  # padded to the batch's largest
    shapes = [s.img_shape for s in data['data_samples']]
    assert shapes == [(42, 70), (70, 42)]
    calls = _count_calls(model)
    losses = model.loss(**data)
    assert calls['teacher_views'] == [2 * 5] and calls['teacher_sizes'] == [(56, 56)]
    # the shared crops (56x56) and the global views (padded to 70x70): two student calls
    assert calls['student_sizes'] == [(56, 56), (70, 70)]
    assert all(torch.isfinite(v) for v in losses.values())


def test_the_padding_never_counts():
    """Whatever the student predicts in the padding, every loss term is the same."""
    model = _model(loss_feat=None, shared_context=False)  # the shared pair is V_g, padded
    data = _batch(model, num_local=4, shapes=[(84, 126), (112, 70)])
    forward = model.student.forward_with_features
    garbage = {}

    def student(x):
        disp, feat = forward(x)
        pad = torch.ones_like(disp, dtype=torch.bool)
        for i, s in enumerate(data['data_samples']):
            if x.shape[-2:] == (70, 70):  # the global views
                h, w = s.img_shape
                pad[i, :, :h, :w] = False
        return torch.where(pad, garbage['value'], disp), feat

    model.student.forward_with_features = student
    results = []
    for value in (0.0, 1e3):
        garbage['value'] = value
        results.append({k: float(v) for k, v in model.loss(**data).items()})
    assert set(results[0]) == {'loss_sc', 'loss_lg', 'loss_grad'}
    for k in results[0]:
        assert results[0][k] == pytest.approx(results[1][k], rel=1e-5), k


def test_teacher_patches_are_original_pixels_at_one_to_one():
    """A 1:1 local patch holds exactly the original pixels of ``box / scale_factor``."""
    model = _model(teacher=dict(type='SimulatedTeacher', internal_size=16))
    data = _batch(model, num_local=4, shapes=[(84, 126), (112, 70)])
    boxes = model._read_boxes(data['data_samples'], data['inputs'].device)
    _, local = model._cut_crops(data['inputs'], boxes, False, True)
    for k, box in enumerate((boxes['local'] / boxes['scale'][:, None]).flatten(0, 1)):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        assert (x2 - x1, y2 - y1) == (56, 56)
        torch.testing.assert_close(
            local[k], data['inputs'][k // 4, :, y1:y2, x1:x2], atol=1e-4, rtol=0
        )


def test_predict_and_eval_without_teacher():
    model = _model(teacher=None)
    assert model.teacher is None
    samples = model.predict(torch.rand(2, 3, 42, 56))
    assert samples[0].pred_depth.data.shape == (1, 42, 56)
    with pytest.raises(RuntimeError, match='without a teacher'):
        model.loss(**_batch(model))


def test_local_global_compares_matching_regions():
    """With a perfect student (its output = the truth), L_lg only sees teacher flaws.

    A student whose global prediction equals the true disparity, cut at the local
    boxes, must match a noise-free full-resolution teacher up to each patch's affine
    map, so a global-normalized L_lg is ~0; a student map shifted by a few pixels
    (regions no longer matching) gives a clearly larger loss.
    """
    model = _model(
        teacher=dict(type='SimulatedTeacher', internal_size=56, noise_amplitude=0.0),
        loss_lg=dict(type='NormalizedL1Loss', normalization='global'),
        loss_grad=None,
        loss_feat=None,
        loss_sc=None,
    )
    data = _batch(model, num_local=2, shapes=[(84, 126), (112, 70)])
    boxes = model._read_boxes(data['data_samples'], data['inputs'].device)
    maps = model._pixel_maps(data['inputs'], data['data_samples'])
    v_global, _ = model._cut_global(maps, boxes)
    disp = v_global[:, 3:]  # the true disparity of the global views

    class Perfect(torch.nn.Module):
        def forward_with_features(self, x):
            return self.disp, None

    perfect = Perfect()
    perfect.disp = disp
    model.student = perfect
    good = model.loss(**data)['loss_lg']
    perfect.disp = torch.roll(disp, shifts=4, dims=-1)
    bad = model.loss(**data)['loss_lg']
    assert good < 0.05 and bad > 3 * good, (float(good), float(bad))
