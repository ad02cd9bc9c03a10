"""GenPercept, the paper's diffusion assistant, as a frozen teacher (diffusers)."""

from __future__ import annotations

import logging
import os.path as osp
from typing import Optional, Union

import torch
import torch.nn.functional as F

from mmdistilldepth.registry import MODELS
from mmdistilldepth.utils.extras import require

from .base_teacher import BaseTeacher
from .diffusion_utils import (
    affine_depth_to_disparity,
    check_embedding_fits,
    check_model_folder,
    encode_empty_prompt,
    load_text_embedding,
    resize_to_processing,
    resolve_dtype,
    transformers_available,
    weights_variant,
)

logger = logging.getLogger(__name__)

GENPERCEPT_DOWNLOAD = (
    'a GenPercept checkpoint (e.g. huggingface.co/guangkaixu/'
    'genpercept-disparity, or the unet of guangkaixu/genpercept-models '
    'with the vae of stabilityai/stable-diffusion-2-1)'
)

#: GenPercept's one DDIM step. Its scheduler (``hf_configs/scheduler_beta_1.0_1.0``:
#: DDIM, ``beta_start = beta_end = 1``, ``prediction_type='v_prediction'``,
#: ``timestep_spacing='leading'``, ``steps_offset=1``) gives, for one inference step,
#: the timestep ``0 * 1000 + 1 = 1``, and ``alpha_bar = 0`` at every timestep, so the
#: v-prediction's clean sample ``sqrt(alpha_bar) x - sqrt(1 - alpha_bar) v`` is ``-v``.
GENPERCEPT_TIMESTEP = 1


@MODELS.register_module()
class GenPerceptTeacher(BaseTeacher):
    """GenPercept (Xu et al., 2024): one deterministic step of a fine-tuned SD 2.1 UNet.

    Loaded from a local folder in diffusers layout (``unet/`` and ``vae/``; the
    optional ``text_encoder/`` and ``tokenizer/`` only to compute the empty-prompt
    embedding). For a batch of views, RGB in [0, 1]:

    1. resize so the longest edge is ``processing_res`` (sides a multiple of the
       VAE's downscaling factor, 8; bilinear, anti-aliased) and scale to [-1, 1];
    2. ``latent = vae.encode(x).latent_dist.mean * vae.config.scaling_factor``;
    3. ``out = unet(latent, 1, encoder_hidden_states=empty_prompt).sample``; the clean
       latent is ``-out`` (see :data:`GENPERCEPT_TIMESTEP`);
    4. ``vae.decode(-out / scaling_factor).sample``, mean over the 3 channels, clip to
       [-1, 1], map to [0, 1], resize back to the input size (bilinear, anti-aliased).

    The result of the disparity checkpoint (the one the paper distils from,
    "GenPercept (Disparity)") is affine-invariant disparity in [0, 1] and is
    returned as is. The depth checkpoint's affine-invariant depth in [0, 1] is
    turned into disparity with :func:`affine_depth_to_disparity` (``depth_offset``;
    see its docstring and docs/diffusion_teachers.md).

    The empty-prompt embedding is read from ``empty_text_embedding`` (a file) when
    given, so no text encoder is loaded; otherwise it is computed once with the
    folder's text encoder (needs ``transformers``) and the encoder is dropped.

    Args:
        model_path (str): local folder with ``unet/`` and ``vae/``.
        processing_res (int): longest edge at which the model runs (GenPercept: 768);
            a multiple of 8, or 0 for the input size (rounded to a multiple of 8).
        prediction (str): what the checkpoint predicts, ``'disparity'`` or ``'depth'``.
        empty_text_embedding (str, optional): saved embedding (``.safetensors``,
            ``.npy`` or a ``torch.save`` file) from
            ``tools/model_converters/save_empty_text_embedding.py``.
        dtype (str | torch.dtype): ``'auto'`` (float32 without CUDA, bf16 or fp16 on
            CUDA), ``'float32'``, ``'float16'`` or ``'bfloat16'``.
        depth_offset (float): ``offset`` of the depth -> disparity conversion; only
            used with ``prediction='depth'``.
        max_batch (int, optional): run at most this many views per forward pass
            (:attr:`BaseTeacher.max_batch`, bounds memory); None runs the whole batch
            at once.
        chunk_size (int, optional): the old name of ``max_batch``, still accepted.
    """

    def __init__(
        self,
        model_path: str,
        processing_res: int = 768,
        prediction: str = 'disparity',
        empty_text_embedding: Optional[str] = None,
        dtype: Union[str, torch.dtype] = 'auto',
        depth_offset: float = 0.1,
        max_batch: Optional[int] = None,
        chunk_size: Optional[int] = None,
    ) -> None:
        super().__init__()
        if chunk_size is not None and max_batch not in (None, chunk_size):
            raise ValueError(
                f'chunk_size={chunk_size} is the old name of max_batch={max_batch}; give one'
            )
        if prediction not in ('disparity', 'depth'):
            raise ValueError(f"prediction must be 'disparity' or 'depth', got {prediction!r}")
        if processing_res < 0 or processing_res % 8 != 0:
            raise ValueError(
                f'processing_res must be 0 or a positive multiple of 8, got {processing_res}'
            )
        if depth_offset <= 0:
            raise ValueError(f'depth_offset must be > 0, got {depth_offset}')
        check_model_folder(
            model_path,
            [
                'unet/config.json',
                'unet/diffusion_pytorch_model*',
                'vae/config.json',
                'vae/diffusion_pytorch_model*',
            ],
            'GenPercept',
            GENPERCEPT_DOWNLOAD,
        )
        self.model_path = model_path
        self.processing_res = processing_res
        self.prediction = prediction
        self.depth_offset = depth_offset
        self.max_batch = max_batch if max_batch is not None else chunk_size
        self.dtype = resolve_dtype(dtype)

        embedding = self._empty_prompt_embedding(empty_text_embedding)

        # diffusers (the `diffusion` extra) is imported here, not at module level:
        # importing the package never needs it
        diffusers = require('diffusers', 'GenPerceptTeacher')
        self.vae = self._load(diffusers.AutoencoderKL, 'vae')
        self.unet = self._load(diffusers.UNet2DConditionModel, 'unet')
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.scaling_factor = float(self.vae.config.scaling_factor)
        check_embedding_fits(embedding, self.unet, model_path)
        self.register_buffer('empty_text_embedding', embedding.to(self.dtype), persistent=False)
        self.freeze()

    def _load(self, cls, subfolder: str):
        from diffusers.utils import is_accelerate_available

        path = osp.join(self.model_path, subfolder)
        return cls.from_pretrained(
            path,
            dtype=self.dtype,
            local_files_only=True,
            variant=weights_variant(path),
            low_cpu_mem_usage=is_accelerate_available(),
        )

    def _empty_prompt_embedding(self, path: Optional[str]) -> torch.Tensor:
        if path is not None:
            return load_text_embedding(path)
        has_encoder = osp.isdir(osp.join(self.model_path, 'text_encoder')) and osp.isdir(
            osp.join(self.model_path, 'tokenizer')
        )
        if not has_encoder or not transformers_available():
            missing = (
                'transformers is not installed'
                if has_encoder
                else f'{self.model_path} lacks text_encoder/ or tokenizer/'
            )
            raise FileNotFoundError(
                f'GenPercept needs the empty-prompt embedding, but empty_text_embedding is '
                f'not set and {missing}: create the file once with '
                'tools/model_converters/save_empty_text_embedding.py MODEL_DIR OUT (on a '
                'machine with transformers and the SD 2.1 text_encoder/ and tokenizer/) '
                'and pass empty_text_embedding=OUT'
            )
        logger.info(
            'GenPerceptTeacher: computing the empty-prompt embedding with the text encoder of %s',
            self.model_path,
        )
        return encode_empty_prompt(self.model_path)

    def _run(self, images: torch.Tensor) -> torch.Tensor:
        """Steps 1-4 at the processing size: (B, 3, H, W) in [0, 1] -> (B, 1, h, w)."""
        x = resize_to_processing(images.float(), self.processing_res, self.vae_scale_factor)
        x = (x * 2.0 - 1.0).to(self.dtype)
        latent = self.vae.encode(x).latent_dist.mean * self.scaling_factor
        context = self.empty_text_embedding.repeat(latent.shape[0], 1, 1)
        out = self.unet(latent, GENPERCEPT_TIMESTEP, encoder_hidden_states=context).sample
        decoded = self.vae.decode(-out / self.scaling_factor).sample
        pred = decoded.float().mean(dim=1, keepdim=True).clamp(-1.0, 1.0)
        return (pred + 1.0) / 2.0

    def _predict(
        self, images: torch.Tensor, gt_depth: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        images = images.clamp(0.0, 1.0)
        pred = self._run(images)  # BaseTeacher.predict passes max_batch views at most
        if pred.shape[-2:] != images.shape[-2:]:
            pred = F.interpolate(
                pred, size=images.shape[-2:], mode='bilinear', align_corners=False, antialias=True
            ).clamp(0.0, 1.0)
        if self.prediction == 'depth':
            pred = affine_depth_to_disparity(pred, self.depth_offset)
        return pred
