"""MarigoldTeacher on a tiny random ``MarigoldDepthPipeline`` saved with save_pretrained.

diffusers' Marigold pipeline imports transformers: the tests that run it skip
without transformers; the folder checks and the error for a missing transformers
run everywhere.
"""

import json
import os
import os.path as osp
import shutil

import pytest
import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from mmengine import Config

from mmdistilldepth.models.teachers import marigold_teacher
from mmdistilldepth.models.teachers.diffusion_utils import load_text_embedding, save_text_embedding
from mmdistilldepth.models.teachers.marigold_teacher import MarigoldTeacher
from mmdistilldepth.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CROSS_DIM = 16
STEPS = 2
RESOLUTION = 64
REQUIRED = [
    'model_index.json',
    'scheduler/scheduler_config.json',
    'unet/config.json',
    'unet/diffusion_pytorch_model.safetensors',
    'vae/config.json',
    'vae/diffusion_pytorch_model.safetensors',
]


def tiny_pipeline():
    from diffusers import MarigoldDepthPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=8,
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
    vae = AutoencoderKL(
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
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule='scaled_linear',
        clip_sample=False,
        prediction_type='v_prediction',
        set_alpha_to_one=False,
        steps_offset=1,
        timestep_spacing='trailing',
    )
    vocab = {'<|startoftext|>': 0, '<|endoftext|>': 1}
    for c in 'abcdefghijklmnopqrstuvwxyz':
        vocab[c] = len(vocab)
        vocab[c + '</w>'] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
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
    )
    return MarigoldDepthPipeline(
        unet=unet,
        vae=vae,
        scheduler=scheduler,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        prediction_type='depth',
        default_denoising_steps=STEPS,
        default_processing_resolution=RESOLUTION,
    )


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    pytest.importorskip('transformers')
    root = tmp_path_factory.mktemp('marigold')
    torch.manual_seed(0)
    tiny_pipeline().save_pretrained(str(root))
    return str(root)


@pytest.fixture(scope='module')
def teacher(folder):
    return MODELS.build(dict(type='MarigoldTeacher', model_path=folder))


def images(b=2, h=48, w=80, seed=1):
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def pipeline_depth(folder, rgb, ensemble_size=1):
    """The pipeline called directly, with its own text encoder, seeded like the teacher."""
    from diffusers import MarigoldDepthPipeline

    pipe = MarigoldDepthPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    generators = [
        torch.Generator().manual_seed(k) for _ in range(len(rgb)) for k in range(ensemble_size)
    ]
    return pipe(
        rgb,
        num_inference_steps=STEPS,
        ensemble_size=ensemble_size,
        processing_resolution=RESOLUTION,
        batch_size=len(rgb) * ensemble_size,
        generator=generators,
        output_type='pt',
    ).prediction


def dummy_folder(root):
    """A folder with every required file present (empty): enough for the folder checks."""
    for rel in REQUIRED:
        path = osp.join(root, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        open(path, 'w').close()
    return root


def test_matches_the_pipeline_and_converts_depth_to_disparity(folder, teacher):
    rgb = images()
    pred = teacher.predict(rgb)
    depth = pipeline_depth(folder, rgb)
    assert pred.shape == depth.shape == (2, 1, 48, 80) and pred.dtype == torch.float32
    expected = 0.1 * (1 - depth) / (depth + 0.1)
    assert (pred - expected).abs().max().item() <= 1e-6
    assert 0.0 <= pred.min() and pred.max() <= 1.0
    assert depth.std() > 0.01 and (pred[0] - pred[1]).abs().max() > 1e-3


def test_deterministic_and_independent_of_the_batch(teacher):
    rgb = images(b=3)
    first = teacher.predict(rgb)
    assert torch.equal(first, teacher.predict(rgb))
    assert torch.allclose(teacher.predict(rgb[2:]), first[2:], atol=1e-5)
    # another seed draws other noise
    other = MarigoldTeacher(teacher.model_path, seed=1).predict(rgb)
    assert (other - first).abs().max() > 1e-4


def test_embedding_file_gives_the_same_teacher(folder, teacher, tmp_path):
    path = str(tmp_path / 'empty.safetensors')
    save_text_embedding(teacher.empty_text_embedding, path)
    from_file = MarigoldTeacher(folder, empty_text_embedding=path)
    assert from_file.empty_text_embedding.shape == (1, 2, CROSS_DIM)
    assert torch.equal(from_file.empty_text_embedding, load_text_embedding(path))
    rgb = images(b=1)
    assert torch.equal(from_file.predict(rgb), teacher.predict(rgb))
    # no text encoder is kept in memory
    assert from_file.pipe.text_encoder is None and teacher.pipe.text_encoder is None


def test_prediction_type_from_the_folder_or_the_config(folder, teacher, tmp_path):
    assert teacher.prediction == 'depth'
    rgb = images(b=1)
    depth = pipeline_depth(folder, rgb)
    as_is = MarigoldTeacher(folder, prediction='disparity').predict(rgb)
    assert (as_is - depth).abs().max() <= 1e-6
    # a disparity checkpoint (model_index.json says so) is returned as is
    disparity_folder = str(tmp_path / 'disparity')
    shutil.copytree(folder, disparity_folder)
    index_path = osp.join(disparity_folder, 'model_index.json')
    with open(index_path) as f:
        index = json.load(f)
    index['prediction_type'] = 'disparity'
    with open(index_path, 'w') as f:
        json.dump(index, f)
    disparity_teacher = MarigoldTeacher(disparity_folder)
    assert disparity_teacher.prediction == 'disparity'
    assert (disparity_teacher.predict(rgb) - depth).abs().max() <= 1e-6


def test_base_config_builds_and_runs(folder):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'teachers', 'marigold.py'))
    assert cfg.teacher.type == 'MarigoldTeacher'
    cfg.teacher.update(model_path=folder)
    teacher = MODELS.build(cfg.teacher)
    assert teacher.num_inference_steps == STEPS and teacher.processing_resolution == RESOLUTION
    pred = teacher.predict(images(b=1))
    assert pred.shape == (1, 1, 48, 80) and torch.isfinite(pred).all()


def test_ensemble(folder):
    """The teacher's ensemble is its pipeline's ensemble of the seeded members.

    The reference runs the teacher's own pipeline object: diffusers' ensembling (a
    scipy optimization of per-member scale and shift) turns float32 differences of a
    few ulps between two loaded copies of the tiny random model (6.6e-7 seen) into
    differences of 1e-2, so an independently loaded pipeline is no reference here
    (single predictions are compared with one in
    test_matches_the_pipeline_and_converts_depth_to_disparity).
    """
    pytest.importorskip('scipy')
    rgb = images(b=1, h=32, w=40)
    teacher = MarigoldTeacher(folder, ensemble_size=3)
    pred = teacher.predict(rgb)
    assert pred.shape == (1, 1, 32, 40)
    depth = teacher.pipe(
        rgb,
        num_inference_steps=STEPS,
        ensemble_size=3,
        processing_resolution=RESOLUTION,
        batch_size=3,
        generator=[torch.Generator().manual_seed(k) for k in range(3)],
        output_type='pt',
    ).prediction
    assert (pred - 0.1 * (1 - depth) / (depth + 0.1)).abs().max() <= 1e-6
    single = MarigoldTeacher(folder).predict(rgb)
    assert (pred - single).abs().max() > 1e-3  # the ensemble is not one member


def test_frozen_and_always_eval(teacher):
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.training and not teacher.unet.training and not teacher.vae.training
    assert teacher.dtype == torch.float32 and teacher.unet.dtype == torch.float32
    assert teacher.num_inference_steps == STEPS and teacher.processing_resolution == RESOLUTION
    # the pipeline runs the very modules the teacher holds (moved by .to())
    assert teacher.pipe.unet is teacher.unet and teacher.pipe.vae is teacher.vae


def test_bad_arguments(folder):
    with pytest.raises(ValueError, match='prediction'):
        MarigoldTeacher(folder, prediction='normals')
    with pytest.raises(ValueError, match='ensemble_size'):
        MarigoldTeacher(folder, ensemble_size=0)
    with pytest.raises(ValueError, match='multiple of 8'):
        MarigoldTeacher(folder, processing_resolution=100)


@pytest.mark.parametrize('missing', REQUIRED)
def test_incomplete_folder_names_what_is_missing(tmp_path, missing):
    root = dummy_folder(str(tmp_path / 'marigold'))
    os.remove(osp.join(root, missing))
    with pytest.raises(FileNotFoundError, match=f'lacks {missing}') as info:
        MarigoldTeacher(root)
    assert root in str(info.value) and 'marigold-depth' in str(info.value)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        MarigoldTeacher(str(tmp_path / 'nowhere'))


def test_without_transformers_the_error_says_so(tmp_path, monkeypatch):
    root = dummy_folder(str(tmp_path / 'marigold'))
    monkeypatch.setattr(marigold_teacher, 'transformers_available', lambda: False)
    with pytest.raises(ImportError, match='pip install transformers'):
        MarigoldTeacher(root)
