import pytest
import torch
import torch.nn.functional as F

from mmdistilldepth.registry import MODELS
from tests.test_models.test_estimators.test_midas import TINY_BEIT, TINY_SWIN2


def _teacher(model_cfg, **kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(type='MiDaSTeacher', model=dict(model_cfg), **kwargs))


def test_frozen_and_in_eval_mode():
    teacher = _teacher(TINY_BEIT)
    teacher.train()
    assert not teacher.training and not teacher.model.training
    assert not any(p.requires_grad for p in teacher.parameters())


@pytest.mark.parametrize(
    'cfg,net', [(TINY_BEIT, (32, 64)), (TINY_SWIN2, (64, 64))], ids=['beit', 'swin2']
)
def test_predict_normalizes_resizes_and_returns_disparity(cfg, net):
    """(x - 0.5) / 0.5, bicubic to the model's own size, bicubic back, >= 0."""
    teacher = _teacher(cfg, input_size=64)
    images = torch.rand(3, 3, 50, 70)
    assert teacher.network_size(50, 70) == net
    out = teacher.predict(images)
    assert out.shape == (3, 1, 50, 70) and out.dtype == torch.float32
    assert out.min() >= 0 and not out.requires_grad
    x = F.interpolate((images - 0.5) / 0.5, net, mode='bicubic', align_corners=False)
    with torch.no_grad():
        manual = F.interpolate(
            teacher.model(x), (50, 70), mode='bicubic', align_corners=False
        ).clamp(min=0)
    torch.testing.assert_close(out, manual, rtol=1e-5, atol=1e-5)


def test_max_batch_chunks_give_the_same_output():
    images = torch.rand(5, 3, 64, 64)
    full = _teacher(TINY_BEIT, input_size=64).predict(images)
    chunked = _teacher(TINY_BEIT, input_size=64, max_batch=2).predict(images)
    torch.testing.assert_close(full, chunked, rtol=1e-5, atol=1e-6)


def test_checkpoint_loads(tmp_path):
    torch.manual_seed(3)
    source = MODELS.build(dict(TINY_BEIT))
    torch.save(source.state_dict(), tmp_path / 'midas.pt')
    teacher = _teacher(TINY_BEIT, checkpoint=str(tmp_path / 'midas.pt'))
    assert teacher.layout == 'midas'
    for k, v in source.state_dict().items():
        assert torch.equal(teacher.model.state_dict()[k], v), k


def test_rejects_a_non_midas_model():
    with pytest.raises(TypeError, match='MiDaS model'):
        MODELS.build(
            dict(
                type='MiDaSTeacher',
                model=dict(
                    type='DepthAnythingV2',
                    encoder=dict(embed_dim=48, depth=2, num_heads=2, layer_idx=(0, 1, 1, 1)),
                ),
            )
        )
