"""SupervisedDepthEstimator: metric (SiLog) and relative fine-tuning, keys, LR split."""

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.structures import PixelData

from mmdistilldepth.apis import init_model
from mmdistilldepth.registry import MODELS
from mmdistilldepth.structures import DepthDataSample

TINY = dict(
    type='DepthAnythingV2',
    encoder=dict(embed_dim=48, depth=2, num_heads=2, layer_idx=(0, 1, 1, 1)),
    features=16,
    out_channels=(8, 16, 32, 32),
)


def _batch(gt, mask=None):
    samples = []
    for i in range(gt.shape[0]):
        s = DepthDataSample()
        s.gt_depth = PixelData(data=gt[i])
        if mask is not None:
            s.gt_valid_mask = PixelData(data=mask[i])
        samples.append(s)
    return samples


def _gt(b=2, h=28, w=28):
    y = torch.linspace(1.0, 8.0, h).view(1, 1, h, 1).expand(b, 1, h, w).clone()
    return y


def test_metric_student_trains_with_silog_and_ignores_far_pixels():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='SupervisedDepthEstimator', student=dict(TINY, max_depth=10.0)))
    assert model.pred_space == 'depth' and model.max_depth == 10.0
    x = torch.randn(2, 3, 28, 28)
    gt = _gt()
    losses = model(x, _batch(gt), mode='loss')
    assert list(losses) == ['loss_silog'] and torch.isfinite(losses['loss_silog'])
    far = gt.clone()
    far[..., :3, :] = 50.0  # beyond max_depth: must not count
    cut = gt.clone()
    cut[..., :3, :] = 0.0
    with torch.no_grad():
        a = model(x, _batch(far), mode='loss')['loss_silog']
        b = model(x, _batch(cut), mode='loss')['loss_silog']
    torch.testing.assert_close(a, b)
    # a few steps on one batch lower the loss
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = None
    for _ in range(15):
        loss = model(x, _batch(gt), mode='loss')['loss_silog']
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.7 * first


def test_relative_student_has_affine_invariant_loss_and_gradient_term():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='SupervisedDepthEstimator',
            student=TINY,
            loss_grad=dict(type='GradientMatchingLoss', scales=2),
            loss_weights=dict(grad=0.5),
        )
    )
    assert model.pred_space == 'disparity' and model.max_depth is None
    x = torch.randn(2, 3, 28, 28)
    gt = _gt()
    mask = torch.ones_like(gt, dtype=torch.bool)
    losses = model(x, _batch(gt, mask), mode='loss')
    assert set(losses) == {'loss_ssi', 'loss_grad'}
    # affine-invariant: the same scene at another metric scale costs the same
    with torch.no_grad():
        a = model(x, _batch(gt), mode='loss')['loss_ssi']
        b = model(x, _batch(3.0 * gt), mode='loss')['loss_ssi']
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match='loss_weights'):
        MODELS.build(dict(type='SupervisedDepthEstimator', student=TINY, loss_weights=dict(grad=0)))
    with pytest.raises(KeyError, match='gt_depth'):
        model(x, [DepthDataSample(), DepthDataSample()], mode='loss')


def test_predict_is_the_students_and_checkpoints_load_like_distilled_ones(tmp_path):
    from mmengine.config import Config

    torch.manual_seed(0)
    cfg = Config(
        dict(model=dict(type='SupervisedDepthEstimator', student=dict(TINY, max_depth=20.0)))
    )
    model = MODELS.build(cfg.model).eval()
    x = torch.randn(1, 3, 28, 28)
    with torch.no_grad():
        out = model(x, mode='predict')
        ref = model.student(x)
    assert out[0].pred_space == 'depth' and torch.equal(out[0].pred_depth.data, ref[0])
    path = tmp_path / 'iter_1.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    assert all(k.startswith('student.') for k in model.state_dict())
    loaded = init_model(cfg, str(path))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), ref)


def test_decoder_learns_ten_times_faster():
    model = MODELS.build(dict(type='SupervisedDepthEstimator', student=TINY))
    wrapper = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(type='AdamW', lr=5e-6, weight_decay=0.01),
            paramwise_cfg=dict(custom_keys={'student.depth_head': dict(lr_mult=10.0)}),
        ),
    )
    lrs = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lrs[id(p)] = group['lr']
    assert lrs[id(model.student.pretrained.patch_embed.proj.weight)] == pytest.approx(5e-6)
    assert lrs[id(model.student.depth_head.scratch.output_conv1.weight)] == pytest.approx(5e-5)
