"""Marigold as a frozen teacher, through diffusers' ``MarigoldDepthPipeline``."""

from __future__ import annotations

import logging
import os.path as osp
from typing import Optional, Union

import torch

from mmdistilldepth.registry import MODELS
from mmdistilldepth.utils.extras import MissingExtraError, install_hint, is_available, require

from .base_teacher import BaseTeacher
from .diffusion_utils import (
    affine_depth_to_disparity,
    check_embedding_fits,
    check_model_folder,
    encode_empty_prompt,
    load_text_embedding,
    resolve_dtype,
    transformers_available,
    weights_variant,
)

logger = logging.getLogger(__name__)

MARIGOLD_DOWNLOAD = 'a Marigold depth checkpoint (e.g. huggingface.co/prs-eth/marigold-depth-v1-1)'


@MODELS.register_module()
class MarigoldTeacher(BaseTeacher):
    """Marigold (Ke et al., 2024) depth, run by diffusers' ``MarigoldDepthPipeline``.

    Loaded from a local folder as ``MarigoldDepthPipeline.save_pretrained`` writes it
    (``model_index.json``, ``unet/``, ``vae/``, ``scheduler/``; ``text_encoder/`` and
    ``tokenizer/`` only to compute the empty-prompt embedding once). The views, RGB
    in [0, 1], go to the pipeline as one tensor batch; it resizes them to
    ``processing_resolution``, denoises ``num_inference_steps`` steps from seeded
    noise (``ensemble_size`` members per view, ensembled by the pipeline) and
    resizes the prediction back to the input size.

    Marigold's depth checkpoints predict affine-invariant depth in [0, 1] (0 near,
    1 far); it is turned into disparity with :func:`affine_depth_to_disparity`
    (``depth_offset``; see its docstring and docs/diffusion_teachers.md), so the
    distiller only sees disparity. A checkpoint whose ``model_index.json`` says
    ``prediction_type: disparity`` is returned as is.

    The noise of view ``i``'s ensemble member ``e`` comes from a CPU generator seeded
    with ``seed + e``: a view gets the same pseudo-label whatever batch it is in.

    Needs ``transformers``, which diffusers' Marigold pipeline imports.

    Args:
        model_path (str): local pipeline folder.
        num_inference_steps (int, optional): denoising steps; None takes the folder's
            ``default_denoising_steps`` (v1-1: 4 DDIM steps; LCM: 1-4; v1-0: 10+).
        ensemble_size (int): predictions per view, ensembled (> 1 needs scipy).
        processing_resolution (int, optional): longest edge at which the model runs,
            a multiple of 8 (0: the input size); None takes the folder's
            ``default_processing_resolution`` (768).
        prediction (str, optional): ``'depth'`` or ``'disparity'``; None reads the
            folder's ``prediction_type`` (``'depth'`` when absent).
        empty_text_embedding (str, optional): saved embedding file (see
            ``tools/model_converters/save_empty_text_embedding.py``); None computes it
            with the folder's text encoder.
        dtype (str | torch.dtype): ``'auto'`` (float32 without CUDA, bf16 or fp16 on
            CUDA), ``'float32'``, ``'float16'`` or ``'bfloat16'``.
        depth_offset (float): ``offset`` of the depth -> disparity conversion.
        seed (int): seed of the initial noise.
        batch_size (int, optional): pipeline batch size (views x ensemble members per
            forward pass); None runs them all at once.
        ensembling_kwargs (dict, optional): passed to the pipeline's ensembling.
    """

    def __init__(
        self,
        model_path: str,
        num_inference_steps: Optional[int] = None,
        ensemble_size: int = 1,
        processing_resolution: Optional[int] = None,
        prediction: Optional[str] = None,
        empty_text_embedding: Optional[str] = None,
        dtype: Union[str, torch.dtype] = 'auto',
        depth_offset: float = 0.1,
        seed: int = 0,
        batch_size: Optional[int] = None,
        ensembling_kwargs: Optional[dict] = None,
    ) -> None:
        super().__init__()
        if prediction not in (None, 'depth', 'disparity'):
            raise ValueError(f"prediction must be None, 'depth' or 'disparity', got {prediction!r}")
        if ensemble_size < 1:
            raise ValueError(f'ensemble_size must be >= 1, got {ensemble_size}')
        if depth_offset <= 0:
            raise ValueError(f'depth_offset must be > 0, got {depth_offset}')
        check_model_folder(
            model_path,
            [
                'model_index.json',
                'scheduler/scheduler_config.json',
                'unet/config.json',
                'unet/diffusion_pytorch_model*',
                'vae/config.json',
                'vae/diffusion_pytorch_model*',
            ],
            'Marigold',
            MARIGOLD_DOWNLOAD,
        )
        diffusers = require('diffusers', 'MarigoldTeacher')  # the `diffusion` extra
        if not transformers_available():
            raise MissingExtraError(
                "MarigoldTeacher runs diffusers' MarigoldDepthPipeline, which imports "
                f'transformers (not installed): {install_hint("transformers")} '
                '(or pip install transformers)'
            )
        if ensemble_size > 1 and not is_available('scipy'):
            raise MissingExtraError(
                'MarigoldTeacher with ensemble_size > 1 needs scipy for '
                "the pipeline's ensembling (not installed): "
                f'{install_hint("scipy")}'
            )
        from diffusers.utils import is_accelerate_available

        self.model_path = model_path
        self.dtype = resolve_dtype(dtype)
        embedding = (
            load_text_embedding(empty_text_embedding)
            if empty_text_embedding is not None
            else encode_empty_prompt(model_path)
        )
        # The text encoder is never kept: the pipeline uses the embedding set below.
        self.pipe = diffusers.MarigoldDepthPipeline.from_pretrained(
            model_path,
            text_encoder=None,
            tokenizer=None,
            dtype=self.dtype,
            local_files_only=True,
            variant=weights_variant(osp.join(model_path, 'unet')),
            low_cpu_mem_usage=is_accelerate_available(),
        )
        self.pipe.set_progress_bar_config(disable=True)
        # Registered as submodules so .to() / .cuda() move the pipeline's models.
        self.unet = self.pipe.unet
        self.vae = self.pipe.vae
        check_embedding_fits(embedding, self.unet, model_path)
        self.register_buffer('empty_text_embedding', embedding.to(self.dtype), persistent=False)

        self.num_inference_steps = (
            self.pipe.default_denoising_steps
            if num_inference_steps is None
            else num_inference_steps
        )
        self.processing_resolution = (
            self.pipe.default_processing_resolution
            if processing_resolution is None
            else processing_resolution
        )
        if self.num_inference_steps is None or self.processing_resolution is None:
            raise ValueError(
                f'{model_path}/model_index.json sets no default_denoising_steps or '
                'default_processing_resolution: give num_inference_steps and '
                'processing_resolution'
            )
        if self.processing_resolution % self.pipe.vae_scale_factor != 0:
            raise ValueError(
                f'processing_resolution must be a multiple of '
                f'{self.pipe.vae_scale_factor}, got {self.processing_resolution}'
            )
        self.ensemble_size = ensemble_size
        self.prediction = self._resolve_prediction(prediction)
        self.depth_offset = depth_offset
        self.seed = seed
        self.batch_size = batch_size
        self.ensembling_kwargs = ensembling_kwargs
        self.freeze()

    def _resolve_prediction(self, prediction: Optional[str]) -> str:
        stated = self.pipe.config.get('prediction_type')
        if stated not in ('depth', 'disparity'):
            stated = None
        if prediction is None:
            return stated or 'depth'
        if stated is not None and stated != prediction:
            logger.warning(
                'MarigoldTeacher: prediction=%r but %s/model_index.json says '
                'prediction_type=%r; using %r',
                prediction,
                self.model_path,
                stated,
                prediction,
            )
        return prediction

    def _predict(
        self, images: torch.Tensor, gt_depth: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        n, e = images.shape[0], self.ensemble_size
        generators = [
            torch.Generator().manual_seed(self.seed + k) for _ in range(n) for k in range(e)
        ]
        self.pipe.empty_text_embedding = self.empty_text_embedding
        output = self.pipe(
            images.clamp(0.0, 1.0),
            num_inference_steps=self.num_inference_steps,
            ensemble_size=e,
            processing_resolution=self.processing_resolution,
            match_input_resolution=True,
            batch_size=self.batch_size or n * e,
            ensembling_kwargs=self.ensembling_kwargs,
            generator=generators,
            output_type='pt',
        )
        pred = output.prediction.float()
        if self.prediction == 'depth':
            pred = affine_depth_to_disparity(pred, self.depth_offset)
        return pred
