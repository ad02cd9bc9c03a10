"""L_feat's targets from the teacher call already made (feat_source='teacher')."""

import pytest
import torch

from mmdistilldepth.models.distillers.cross_context_distiller import same_encoder_weights
from mmdistilldepth.registry import MODELS
from tests.test_models.test_distillers.test_cross_context_distiller import STUDENT, _batch

CKPT = 'checkpoints/depth_anything_v2_vitl.pth'


def _teacher(**kw):
    return dict(type='DepthAnythingTeacher', model=dict(STUDENT), **kw)


def test_same_weights_decided_from_the_configs():
    student = dict(STUDENT, encoder='vitl', checkpoint=CKPT, checkpoint_scope='encoder')
    teacher = dict(
        type='DepthAnythingTeacher',
        model=dict(type='DepthAnythingV2', encoder='vitl'),
        checkpoint=CKPT,
    )
    assert same_encoder_weights(student, teacher)
    assert same_encoder_weights(student, dict(teacher, checkpoint='./' + CKPT))
    assert not same_encoder_weights(student, dict(teacher, checkpoint='other.pth'))
    assert not same_encoder_weights(dict(student, checkpoint=None), dict(teacher, checkpoint=None))
    assert not same_encoder_weights(dict(student, encoder='vits'), teacher)
    assert not same_encoder_weights(student, dict(teacher, input_size=518))  # resized views
    assert not same_encoder_weights(student, teacher, feat_encoder=dict(type='DINOv2ViT'))
    assert not same_encoder_weights(student, teacher, student_mean=(0.5, 0.5, 0.5))
    assert not same_encoder_weights(student, dict(type='SimulatedTeacher'))


def _pair(**kw):
    """The same distiller with feat_source 'copy' and 'teacher', equal weights."""
    cfg = dict(
        type='CrossContextDistiller',
        student=STUDENT,
        teacher=_teacher(),
        train_size=(56, 56),
        loss_sc=dict(type='NormalizedL1Loss', normalization='hybrid'),
        loss_lg=dict(type='NormalizedL1Loss', normalization='hybrid'),
        loss_grad=None,
        loss_feat=dict(type='FeatureAlignmentLoss'),
        **kw,
    )
    models = []
    for source in ('copy', 'teacher'):
        torch.manual_seed(0)
        model = MODELS.build(dict(cfg, feat_source=source))
        model.student.backbone.load_state_dict(model.teacher.model.backbone.state_dict())
        model.init_weights()
        models.append(model)
    return models


@pytest.mark.parametrize('shared_context', [True, False])
def test_teacher_features_give_the_same_loss_with_fewer_encoder_calls(shared_context):
    copy_model, teacher_model = _pair(shared_context=shared_context)
    assert copy_model.feat_encoder is not None and teacher_model.feat_encoder is None
    data = _batch(copy_model, num_local=2, b=2)
    for s in data['data_samples']:
        del s.gt_depth  # a real teacher sees RGB only
    encoded = []
    encode = teacher_model.teacher.encode
    teacher_model.teacher.encode = lambda x: encoded.append(len(x)) or encode(x)
    copied = []
    copy_model.feat_encoder.register_forward_pre_hook(lambda m, a: copied.append(len(a[0])))
    torch.manual_seed(1)
    expected = copy_model.loss(**data)
    torch.manual_seed(1)
    got = teacher_model.loss(**data)
    torch.testing.assert_close(got['loss_feat'], expected['loss_feat'], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got['loss_sc'], expected['loss_sc'])
    if shared_context:  # the copy encodes V_s and V_g; the teacher call gave V_s already
        assert copied == [2, 2] and encoded == [2]
    else:  # the shared pair is V_g, which the teacher predicts: no extra encoder call
        assert copied == [2] and encoded == []
    got['loss_feat'].backward()
    assert teacher_model.student.backbone.blocks[0].attn.qkv.weight.grad is not None


def test_teacher_source_checks_the_weights():
    with pytest.raises(ValueError, match='differs from the student'):
        model = MODELS.build(
            dict(
                type='CrossContextDistiller',
                student=STUDENT,
                teacher=_teacher(),
                train_size=(56, 56),
                loss_sc=dict(type='NormalizedL1Loss'),
                loss_feat=dict(type='FeatureAlignmentLoss'),
                feat_source='teacher',
            )
        )
        model.init_weights()  # two random inits: not the same encoder
    with pytest.raises(TypeError, match='does not return encoder features'):
        MODELS.build(
            dict(
                type='CrossContextDistiller',
                student=STUDENT,
                teacher=dict(type='SimulatedTeacher', internal_size=16),
                loss_sc=dict(type='NormalizedL1Loss'),
                loss_feat=dict(type='FeatureAlignmentLoss'),
                feat_source='teacher',
            )
        )
