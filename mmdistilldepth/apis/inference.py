"""Build a depth model from a config and run it on one image."""

from __future__ import annotations

import copy
from typing import Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config

from mmdistilldepth.utils.image_io import read_rgb

from .preprocessing import prepare_dav2_input

DISTILLER_TYPE = 'CrossContextDistiller'
#: Training wrappers whose ``student`` is the estimator that predicts.
WRAPPER_TYPES = (DISTILLER_TYPE, 'SupervisedDepthEstimator')
#: Depth Anything V2's default network size (the lower bound of the sides).
DAV2_INPUT_SIZE = 518


def init_model(
    config: Union[str, Config],
    checkpoint: Optional[str] = None,
    device: Union[str, torch.device] = 'cpu',
) -> torch.nn.Module:
    """Build the depth estimator of a config, load weights, move it to ``device``.

    A distiller config (``model.type == 'CrossContextDistiller'``) or a fine-tuning
    one (``'SupervisedDepthEstimator'``) builds only its ``model.student``: teachers
    and losses are never needed to predict.

    With no config, ``config`` names the model itself: a transformers folder
    (``config.json``), a checkpoint file, ``hf://ORG/NAME[/PATH]`` or a bare hub id
    such as ``'depth-anything/Depth-Anything-V2-Small-hf'`` (through huggingface_hub's
    cache; :mod:`mmdistilldepth.apis.hf` and docs/get_started.md say how each is read).

    Args:
        config (str | Config): config file path or a loaded config; or a folder,
            checkpoint file or hub id (then ``checkpoint`` must be None).
        checkpoint (str, optional): weights in any layout
            :func:`~mmdistilldepth.models.checkpoint_loading.load_depth_checkpoint`
            accepts (``hf://`` references too); it replaces the config's own
            ``checkpoint`` field.
        device (str | torch.device): where the model runs.

    Returns:
        nn.Module: the model in eval mode, with the config at ``model.cfg``.
    """
    from .hf import init_pretrained, is_pretrained_spec

    if is_pretrained_spec(config):
        if checkpoint is not None:
            raise ValueError(
                f'init_model: {config!r} is a checkpoint or hub id, which holds '
                'its own weights; give either a config and a checkpoint, or '
                'the checkpoint alone'
            )
        return init_pretrained(config, device)
    from mmdistilldepth.models.checkpoint_loading import load_depth_checkpoint
    from mmdistilldepth.registry import MODELS
    from mmdistilldepth.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if 'model' not in cfg:
        raise KeyError(f'{getattr(cfg, "filename", None) or "config"} has no `model` field')
    model_cfg = copy.deepcopy(estimator_config(cfg.model))
    if checkpoint is not None:
        model_cfg.pop('checkpoint', None)
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        load_depth_checkpoint(model, checkpoint)
    model.cfg = cfg
    return model.to(device).eval()


def estimator_config(model_cfg):
    """The estimator inside a model config: the ``student`` of a distiller or a
    fine-tuning wrapper (:data:`WRAPPER_TYPES`), else the config itself.
    """
    if model_cfg.get('type') in WRAPPER_TYPES:
        return model_cfg.get('student', {})
    return model_cfg


def _dav2_prepare_inputs(
    rgb: np.ndarray, input_size: Optional[int] = None, max_size: Optional[int] = None
) -> torch.Tensor:
    """The default preprocessing: Depth Anything V2's (lower bound 518, multiple of 14)."""
    size = DAV2_INPUT_SIZE if input_size is None else int(input_size)
    return torch.from_numpy(prepare_dav2_input(rgb, size, max_size=max_size))


def _dav2_resize_output(pred: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
    """The default resize back: bilinear, ``align_corners=True`` (``infer_image``)."""
    return F.interpolate(pred, tuple(hw), mode='bilinear', align_corners=True)


@torch.no_grad()
def inference_depth(
    model: torch.nn.Module,
    image: Union[str, np.ndarray],
    input_size: Optional[int] = None,
    max_size: Optional[int] = None,
) -> np.ndarray:
    """Predict one image with the model's own preprocessing: relative disparity, or
    depth in metres for a metric model (``model.pred_space == 'depth'``).

    A model that defines ``prepare_inputs(rgb, input_size=None, max_size=None) ->
    Tensor (1, 3, h, w)`` and ``resize_output(pred, (H, W)) -> Tensor`` (e.g.
    ``MiDaS``: "minimal" resize to a multiple of 32 around 512 / to 256x256, cv2
    cubic, ``(x - 0.5) / 0.5``; bicubic back) is run with them. Any other model gets
    Depth Anything V2's official ``infer_image`` behaviour:
    :func:`~mmdistilldepth.apis.preprocessing.prepare_dav2_input` (keep aspect, lower
    bound ``input_size`` = 518 by default, multiple of 14, cv2 bicubic, ImageNet
    normalization) and a bilinear ``align_corners=True`` resize back.

    Args:
        model (nn.Module): a model whose ``model(x, mode='tensor')`` returns
            disparity (or metric depth) (B, 1, h, w) for normalized images.
        image (str | ndarray): an image path or an RGB uint8 array (H, W, 3).
        input_size (int, optional): the network size parameter of the model's
            preprocessing (DAv2: the lower bound of the sides, 518; MiDaS: the
            target side, 512 / 256); None uses the model's own default.
        max_size (int, optional): the upper bound of the long side of the network
            input, for very elongated images (None: no bound, as the official code).

    Returns:
        ndarray: float32 disparity (or depth) (H, W) at the image's resolution.
    """
    rgb = read_rgb(image) if isinstance(image, str) else image
    if rgb.dtype != np.uint8:
        raise TypeError(f'expected an RGB uint8 image, got dtype {rgb.dtype}')
    prepare = getattr(model, 'prepare_inputs', _dav2_prepare_inputs)
    resize_back = getattr(model, 'resize_output', _dav2_resize_output)
    param = next(model.parameters())
    inputs = prepare(rgb, input_size=input_size, max_size=max_size).to(param.device)
    disparity = model(inputs.to(param.dtype), mode='tensor').float()
    disparity = resize_back(disparity, rgb.shape[:2])
    return disparity[0, 0].cpu().numpy()
