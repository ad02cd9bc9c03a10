"""GenPerceptTeacher on tiny random diffusers models saved in GenPercept's folder layout.

The reference is GenPercept's one step computed here directly with the diffusers
components (and its DDIM scheduler for the timestep and the clean latent); the
teacher must agree exactly.
"""

import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from mmengine import Config

from mmdistilldepth.models.teachers.diffusion_utils import (
    affine_depth_to_disparity,
    load_text_embedding,
    processing_size,
    save_text_embedding,
)
from mmdistilldepth.models.teachers.genpercept_teacher import GenPerceptTeacher
from mmdistilldepth.registry import MODELS
from tests.conftest import load_tool

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CROSS_DIM = 16
# GenPercept's hf_configs/scheduler_beta_1.0_1.0
GENPERCEPT_SCHEDULER = dict(
    beta_start=1.0,
    beta_end=1.0,
    beta_schedule='scaled_linear',
    clip_sample=False,
    num_train_timesteps=1000,
    prediction_type='v_prediction',
    set_alpha_to_one=False,
    steps_offset=1,
    timestep_spacing='leading',
)


def tiny_unet(in_channels=4):
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=('CrossAttnDownBlock2D', 'DownBlock2D'),
        up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D'),
        cross_attention_dim=CROSS_DIM,
        attention_head_dim=2,
        norm_num_groups=4,
        use_linear_projection=True,
    )


def tiny_vae():
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=('DownEncoderBlock2D',) * 4,
        up_block_types=('UpDecoderBlock2D',) * 4,
        block_out_channels=(4, 8, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=64,
    )


def tiny_text_encoder_and_tokenizer():
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = {'<|startoftext|>': 0, '<|endoftext|>': 1}
    for c in 'abcdefghijklmnopqrstuvwxyz':
        vocab[c] = len(vocab)
        vocab[c + '</w>'] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=CROSS_DIM,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=77,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return CLIPTextModel(config).eval(), tokenizer


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    """A GenPercept folder (unet/, vae/, scheduler/) and a saved empty-prompt embedding."""
    root = tmp_path_factory.mktemp('genpercept')
    torch.manual_seed(0)
    tiny_unet().save_pretrained(str(root / 'unet'))
    tiny_vae().save_pretrained(str(root / 'vae'))
    DDIMScheduler(**GENPERCEPT_SCHEDULER).save_pretrained(str(root / 'scheduler'))
    embedding = torch.randn(1, 2, CROSS_DIM)
    save_text_embedding(embedding, str(root / 'empty_text_embedding.safetensors'))
    return str(root)


def build(folder, **kwargs):
    cfg = dict(
        type='GenPerceptTeacher',
        model_path=folder,
        processing_res=64,
        prediction='disparity',
        empty_text_embedding=osp.join(folder, 'empty_text_embedding.safetensors'),
    )
    cfg.update(kwargs)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def teacher(folder):
    """The default teacher, built once: tests that only call it share it."""
    return build(folder)


def load_cli():
    return load_tool('model_converters', 'save_empty_text_embedding.py').main


def images(b=2, h=48, w=80, seed=1):
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def direct_genpercept(folder, rgb, processing_size_hw):
    """GenPercept's four steps with the diffusers components, written out."""
    vae = AutoencoderKL.from_pretrained(osp.join(folder, 'vae')).eval()
    unet = UNet2DConditionModel.from_pretrained(osp.join(folder, 'unet')).eval()
    scheduler = DDIMScheduler.from_pretrained(osp.join(folder, 'scheduler'))
    scheduler.set_timesteps(1)
    t = scheduler.timesteps[0]
    embedding = load_text_embedding(osp.join(folder, 'empty_text_embedding.safetensors'))
    sf = vae.config.scaling_factor
    # 1. longest edge to processing_res, [-1, 1]
    x = (
        F.interpolate(
            rgb, size=processing_size_hw, mode='bilinear', align_corners=False, antialias=True
        )
        * 2
        - 1
    )
    # 2. encode (mean of the posterior)
    latent = vae.encode(x).latent_dist.mean * sf
    # 3. one step at t = 1; the clean latent is -out (the scheduler agrees)
    out = unet(latent, t, encoder_hidden_states=embedding.repeat(len(rgb), 1, 1)).sample
    clean = -out
    assert torch.equal(scheduler.step(out, t, latent).pred_original_sample, clean)
    # 4. decode, channel mean, clip, [0, 1], back to the input size
    pred = vae.decode(clean / sf).sample.mean(dim=1, keepdim=True).clamp(-1, 1)
    pred = (pred + 1) / 2
    return F.interpolate(
        pred, size=rgb.shape[-2:], mode='bilinear', align_corners=False, antialias=True
    )


def test_scheduler_gives_one_step_at_t1_with_clean_latent_minus_v():
    scheduler = DDIMScheduler(**GENPERCEPT_SCHEDULER)
    scheduler.set_timesteps(1)
    assert scheduler.timesteps.tolist() == [1]
    out, sample = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    clean = scheduler.step(out, scheduler.timesteps[0], sample).pred_original_sample
    assert torch.equal(clean, -out)


def test_matches_direct_diffusers_computation(folder, teacher):
    rgb = images()
    pred = teacher.predict(rgb)
    # 48 x 80 with the longest edge to 64: 38.4 x 64 -> sides rounded to multiples of 8
    ref = direct_genpercept(folder, rgb, (40, 64))
    assert pred.shape == (2, 1, 48, 80) and pred.dtype == torch.float32
    # float32 through a VAE and a UNet: the kernels the CPU picks (oneDNN, by ISA and
    # batch shape) differ by a few ulps between the two paths (2.1e-6 seen on an AMD EPYC
    # development machine); a semantic difference would be orders of magnitude larger
    assert (pred - ref).abs().max().item() <= 1e-5
    # the reference is not degenerate: values spread inside (0, 1), views differ
    assert 0.0 < pred.min() and pred.max() < 1.0 and pred.std() > 0.01
    assert (pred[0] - pred[1]).abs().max() > 1e-3
    # already at the processing size: no resize either way
    rgb = images(b=1, h=64, w=32, seed=3)
    assert (teacher.predict(rgb) - direct_genpercept(folder, rgb, (64, 32))).abs().max() <= 1e-6


@pytest.mark.parametrize(
    'h,w,res,expected',
    [
        (48, 80, 64, (40, 64)),
        (480, 640, 768, (576, 768)),
        (560, 560, 768, (768, 768)),
        (1000, 100, 768, (768, 80)),
        (30, 1000, 64, (8, 64)),  # never below one latent pixel
        (50, 70, 0, (48, 72)),  # 0: the input size, rounded
    ],
)
def test_processing_size(h, w, res, expected):
    assert processing_size(h, w, res, 8) == expected


def test_base_config_builds_and_runs(folder):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'teachers', 'genpercept.py'))
    assert cfg.teacher.type == 'GenPerceptTeacher' and cfg.teacher.processing_res == 768
    cfg.teacher.update(
        model_path=folder,
        processing_res=64,
        empty_text_embedding=osp.join(folder, 'empty_text_embedding.safetensors'),
    )
    pred = MODELS.build(cfg.teacher).predict(images(b=1))
    assert pred.shape == (1, 1, 48, 80) and torch.isfinite(pred).all()


def test_deterministic_chunkable_and_independent_of_the_batch(folder, teacher):
    rgb = images(b=3)
    first, second = teacher.predict(rgb), teacher.predict(rgb)
    assert torch.equal(first, second)
    assert torch.allclose(teacher.predict(rgb[1:2]), first[1:2], atol=1e-5)
    assert torch.allclose(build(folder, max_batch=2).predict(rgb), first, atol=1e-5)
    assert build(folder, chunk_size=2).max_batch == 2  # the old name still works
    with pytest.raises(ValueError, match='old name'):
        build(folder, chunk_size=2, max_batch=3)


def test_frozen_and_always_eval(teacher):
    assert isinstance(teacher, GenPerceptTeacher)
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.training and not teacher.unet.training and not teacher.vae.training
    assert teacher.dtype == torch.float32  # 'auto' on a machine without CUDA
    assert teacher.empty_text_embedding.shape == (1, 2, CROSS_DIM)


def test_depth_checkpoint_is_turned_into_disparity(folder, teacher):
    rgb = images()
    raw = teacher.predict(rgb)  # the checkpoint's [0, 1] map, returned as is
    converted = build(folder, prediction='depth', depth_offset=0.2).predict(rgb)
    assert torch.allclose(converted, 0.2 * (1 - raw) / (raw + 0.2), atol=1e-6)
    # near (small depth) becomes large disparity: strictly decreasing in depth
    order = raw.flatten().argsort()
    assert (converted.flatten()[order].diff() <= 1e-7).all()
    assert converted.flatten()[order[0]] > converted.flatten()[order[-1]]


def test_affine_depth_to_disparity_inverts_marigold_normalization():
    # true depth with far/near = 1 + 1 / offset, normalized the way Marigold trains
    offset = 0.25
    near, far = 2.0, 2.0 * (1 + 1 / offset)
    true_depth = torch.linspace(near, far, 50)
    normalized = (true_depth - near) / (far - near)
    disparity = affine_depth_to_disparity(normalized, offset)
    assert disparity[0].item() == pytest.approx(1.0) and disparity[-1].item() == pytest.approx(0.0)
    # affine in the true disparity 1 / D: a least-squares line fits exactly
    a = torch.stack([1 / true_depth, torch.ones_like(true_depth)], dim=1).double()
    coef = torch.linalg.lstsq(a, disparity.double()[:, None]).solution
    assert (a @ coef - disparity.double()[:, None]).abs().max() < 1e-6
    assert coef[0].item() > 0
    # a wrong offset is not affine in 1 / D (the test above can fail)
    wrong = affine_depth_to_disparity(normalized, 2.0).double()[:, None]
    coef = torch.linalg.lstsq(a, wrong).solution
    assert (a @ coef - wrong).abs().max() > 1e-2
    # a large offset tends to 1 - depth; values outside [0, 1] are clamped
    assert torch.allclose(affine_depth_to_disparity(normalized, 1e6), 1 - normalized, atol=1e-5)
    assert affine_depth_to_disparity(torch.tensor([-0.5, 1.5]), 0.1).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match='offset'):
        affine_depth_to_disparity(normalized, 0.0)


@pytest.mark.parametrize(
    'remove,message',
    [
        ('vae/config.json', 'lacks vae/config.json'),
        ('vae/diffusion_pytorch_model.safetensors', 'lacks vae/diffusion_pytorch_model'),
        ('unet', 'lacks unet/config.json'),
    ],
)
def test_incomplete_folder_names_what_is_missing(folder, tmp_path, remove, message):
    broken = str(tmp_path / 'broken')
    shutil.copytree(folder, broken)
    target = osp.join(broken, remove)
    shutil.rmtree(target) if osp.isdir(target) else os.remove(target)
    with pytest.raises(FileNotFoundError, match=message) as info:
        build(broken)
    assert broken in str(info.value) and 'download' in str(info.value)


def test_missing_folder_and_missing_embedding(folder, tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        build(str(tmp_path / 'nowhere'))
    # no embedding file and no text encoder in the folder
    with pytest.raises(FileNotFoundError, match='save_empty_text_embedding.py'):
        build(folder, empty_text_embedding=None)
    with pytest.raises(FileNotFoundError, match='save_empty_text_embedding.py'):
        build(folder, empty_text_embedding=str(tmp_path / 'missing.safetensors'))


def test_bad_arguments(folder, tmp_path):
    with pytest.raises(ValueError, match='prediction'):
        build(folder, prediction='normal')
    with pytest.raises(ValueError, match='multiple of 8'):
        build(folder, processing_res=100)
    wrong = str(tmp_path / 'wrong_dim.safetensors')
    save_text_embedding(torch.zeros(1, 2, CROSS_DIM + 1), wrong)
    with pytest.raises(ValueError, match='another model'):
        build(folder, empty_text_embedding=wrong)


@pytest.mark.parametrize('suffix', ['.safetensors', '.npy', '.pt'])
def test_embedding_file_formats(tmp_path, suffix):
    embedding = torch.randn(1, 2, CROSS_DIM)
    path = str(tmp_path / f'embedding{suffix}')
    save_text_embedding(embedding, path)
    assert torch.equal(load_text_embedding(path), embedding)


def test_embedding_without_batch_axis(folder, teacher, tmp_path):
    # an (S, D) array, as GenPercept's own empty_text_embed.npy is stored
    plain = str(tmp_path / 'plain.npy')
    np.save(plain, teacher.empty_text_embedding[0].numpy())
    other = build(folder, empty_text_embedding=plain)
    assert torch.equal(other.empty_text_embedding, teacher.empty_text_embedding)
    np.save(plain, np.zeros((2, 2, CROSS_DIM), np.float32))
    with pytest.raises(ValueError, match='shape'):
        load_text_embedding(plain)


def test_reduced_precision_runs(folder, teacher):
    rgb = images(b=1)
    half = build(folder, dtype='bfloat16')
    assert half.unet.dtype == torch.bfloat16 and half.empty_text_embedding.dtype == torch.bfloat16
    pred = half.predict(rgb)
    assert pred.dtype == torch.float32 and torch.isfinite(pred).all()
    assert (pred - teacher.predict(rgb)).abs().mean() < 0.05


def test_text_encoder_path_and_cli(folder, tmp_path):
    """With transformers: the embedding is computed from text_encoder/ + tokenizer/, and
    the converter CLI saves the same tensor.
    """
    pytest.importorskip('transformers')
    save_cli = load_cli()
    full = str(tmp_path / 'with_text_encoder')
    shutil.copytree(folder, full)
    torch.manual_seed(0)
    text_encoder, tokenizer = tiny_text_encoder_and_tokenizer()
    text_encoder.save_pretrained(osp.join(full, 'text_encoder'))
    tokenizer.save_pretrained(osp.join(full, 'tokenizer'))

    out = str(tmp_path / 'empty.safetensors')
    save_cli([full, out])
    saved = load_text_embedding(out)
    with torch.no_grad():
        ids = tokenizer('', padding='do_not_pad', return_tensors='pt').input_ids
        expected = text_encoder(ids)[0]
    assert ids.tolist() == [[0, 1]]
    assert saved.shape == (1, 2, CROSS_DIM) and torch.allclose(saved, expected)

    computed = build(full, empty_text_embedding=None)
    from_file = build(full, empty_text_embedding=out)
    assert torch.equal(computed.empty_text_embedding, from_file.empty_text_embedding)
    rgb = images(b=1)
    assert torch.equal(computed.predict(rgb), from_file.predict(rgb))
