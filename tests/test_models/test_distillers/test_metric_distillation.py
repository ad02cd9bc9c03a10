"""Metric distillation: the crop-zoom factor and its correction in the distiller."""

import pytest
import torch
from mmengine.dataset import pseudo_collate

from mmdistilldepth.datasets import SyntheticScenes
from mmdistilldepth.models.distillers.cross_context_distiller import view_zoom
from mmdistilldepth.registry import MODELS
from mmdistilldepth.utils import register_all_modules

register_all_modules()

STUDENT = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=2, num_heads=2, layer_idx=(0, 1, 1, 1)),
    features=16,
    out_channels=(8, 16, 32, 32),
    max_depth=80.0,
)


def test_view_zoom():
    boxes = torch.tensor([[0, 0, 56, 56], [10, 10, 38, 38], [0, 0, 14, 56]], dtype=torch.float32)
    torch.testing.assert_close(view_zoom(boxes, (56, 56)), torch.tensor([1.0, 2.0, 2.0]))


def _model(metric_zoom):
    return MODELS.build(
        dict(
            type='CrossContextDistiller',
            student=STUDENT,
            teacher=dict(
                type='SimulatedTeacher', metric=True, internal_size=56, noise_amplitude=0.0
            ),
            train_size=(56, 56),
            loss_sc=dict(type='SiLogLoss'),
            loss_lg=dict(type='SiLogLoss'),
            loss_grad=None,
            loss_feat=None,
            metric_zoom=metric_zoom,
        )
    )


def _batch(model):
    pipeline = [  # the quickstart's views at 56 px: local patches of 56 original px
        dict(
            type='CrossContextCrops',
            global_size=56,
            shared_side=(64, None),
            local_size=56,
            num_local=2,
            size_multiple=14,
            seed=0,
        ),
        dict(type='PackDepthInputs', meta_keys=('scale_factor', 'shared_box', 'local_boxes')),
    ]
    ds = SyntheticScenes(num_samples=2, height=84, width=84, seed=5, kind='room', pipeline=pipeline)
    return model.data_preprocessor(pseudo_collate([ds[i] for i in range(2)]), True)


def test_local_teacher_depth_is_brought_back_to_the_global_scale():
    outs = {}
    for metric_zoom in (False, True):
        torch.manual_seed(0)
        model = _model(metric_zoom)
        model.record_visuals = True
        data = _batch(model)
        losses = model.loss(**data)
        assert set(losses) == {'loss_sc', 'loss_lg'} and all(
            torch.isfinite(v) for v in losses.values()
        )
        outs[metric_zoom] = (model.visuals['local_teacher'], data['data_samples'][0])
    (raw, sample), (fixed, _) = outs[False], outs[True]
    # boxes are in pixels of the global view (84 px images seen at 56 px)
    box = torch.as_tensor(sample.metainfo['local_boxes'][0], dtype=torch.float32)
    zoom = view_zoom(box[None], (56, 56))[0]
    torch.testing.assert_close(zoom, torch.tensor(84 / 56))  # 56 original px shown at 56
    assert float(zoom) > 1.2  # a crop resized up: the teacher sees it closer
    torch.testing.assert_close(fixed, raw * zoom)


def test_all_brings_the_shared_target_to_the_global_scale_too():
    outs = {}
    for mode in ('local', 'all'):
        torch.manual_seed(0)
        model = _model(mode)
        model.record_visuals = True
        data = _batch(model)
        model.loss(**data)
        outs[mode] = (model.visuals['shared_teacher'], data['data_samples'][0])
    (local, sample), (every, _) = outs['local'], outs['all']
    box = torch.as_tensor(sample.metainfo['shared_box'], dtype=torch.float32)
    zoom = view_zoom(box[None], (56, 56))[0]
    assert float(zoom) > 1.0
    torch.testing.assert_close(every, local * zoom)
    with pytest.raises(ValueError, match='metric_zoom'):
        _model('shared')


def test_metric_student_predictions_are_marked_as_depth():
    model = _model(True).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 28, 28), mode='predict')
    assert out[0].pred_space == 'depth'
