"""Build a depth estimator from a checkpoint alone: a transformers folder, a hub id, a file.

``init_model(FOLDER_OR_HUB_ID)`` (no config) lands here. What the model is comes
from the checkpoint: a transformers ``config.json`` (the ``-hf`` repositories, what
``convert_checkpoint.py --to hf`` writes), else the tensors' shapes and the config
MMEngine stores in a training checkpoint (:func:`encoder_from_meta`).
"""

from __future__ import annotations

import os.path as osp
from typing import Optional, Union

import torch
from mmengine.config import Config

from mmdistilldepth.utils.hub import FILE_EXTENSIONS, HF_SCHEME, parse_reference, resolve_reference

from .inference import estimator_config


def is_pretrained_spec(spec) -> bool:
    """Whether ``init_model``'s first argument names a checkpoint rather than a config.

    True for a folder, a checkpoint file (``.pth``, ``.safetensors``...), an
    ``hf://`` reference, and a bare hub id ``ORG/NAME[/PATH]`` that is no local path.
    """
    if not isinstance(spec, str) or spec.endswith(('.py', '.yaml', '.yml')):
        return False
    if osp.isdir(spec) or (osp.isfile(spec) and spec.endswith(FILE_EXTENSIONS)):
        return True
    return parse_reference(spec, bare=True) is not None


def estimator_from_meta(meta: dict, config: Optional[Union[str, Config]] = None) -> dict:
    """The estimator's config (a distiller's or fine-tuner's student) from ``config``,
    else from the config text MMEngine stores in a checkpoint's meta; {} if neither.
    """
    if config is not None:
        cfg = Config.fromfile(config) if isinstance(config, str) else config
    elif isinstance(meta.get('cfg'), str):
        try:
            cfg = Config.fromstring(meta['cfg'], '.py')
        except Exception:  # noqa: BLE001 - an unreadable stored config: use the tensors
            return {}
    else:
        return {}
    return estimator_config(cfg.get('model', None) or {})


def encoder_from_meta(meta: dict, config: Optional[Union[str, Config]] = None):
    """The estimator's ``encoder`` as a config gives it, or None when none is known.

    Args:
        meta (dict): a checkpoint's meta (MMEngine stores the config text at ``cfg``).
        config (str | Config, optional): a config, which wins over the meta.

    Returns:
        str | dict | None: e.g. ``'vits'`` or ``dict(embed_dim=96, depth=4, ...)``.
    """
    model = estimator_from_meta(meta, config)
    if not model:
        return None
    encoder = model.get('encoder', 'vitl')
    return encoder.to_dict() if hasattr(encoder, 'to_dict') else encoder


def pretrained_model_config(spec: str) -> Config:
    """The config of the ``DepthAnythingV2`` that a folder, file or hub id holds.

    Args:
        spec (str): a transformers folder, a checkpoint file, ``hf://ORG/NAME[/PATH]``
            or a bare hub id (see :mod:`mmdistilldepth.utils.hub`).

    Returns:
        Config: ``model=dict(type='DepthAnythingV2', encoder=..., features=...,
        out_channels=..., checkpoint=...)`` with the checkpoint as a local path (hub
        references are resolved through the hub cache).
    """
    from mmdistilldepth.models.checkpoint_loading import read_checkpoint, to_dav2_layout
    from mmdistilldepth.models.hf_layout import (
        is_hf_folder,
        model_args_from_hf_config,
        model_args_from_state,
        read_hf_config,
    )

    ref = parse_reference(spec, bare=True) if not osp.exists(spec) else None
    path = spec if ref is None else resolve_reference(ref)
    if is_hf_folder(path):
        args = model_args_from_hf_config(read_hf_config(path), osp.join(path, 'config.json'))
    else:
        state, meta = read_checkpoint(path)
        state, _ = to_dav2_layout(state)
        args = model_args_from_state(state, encoder_from_meta(meta))
        # A metric head has the relative one's tensors: only the config says.
        max_depth = estimator_from_meta(meta).get('max_depth')
        if max_depth is not None:
            args['max_depth'] = float(max_depth)
    source = str(ref) if ref is not None else spec
    return Config(
        dict(model=dict(type='DepthAnythingV2', **args, checkpoint=path), pretrained=source)
    )


def init_pretrained(spec: str, device: Union[str, torch.device] = 'cpu') -> torch.nn.Module:
    """Build and load the estimator a folder, checkpoint file or hub id holds.

    Returns:
        nn.Module: ``DepthAnythingV2`` in eval mode on ``device``, its config at
        ``model.cfg`` (``cfg.pretrained`` keeps ``spec``, hub ids as ``hf://...``).
    """
    from mmdistilldepth.registry import MODELS
    from mmdistilldepth.utils import register_all_modules

    register_all_modules()
    cfg = pretrained_model_config(spec)
    model = MODELS.build(cfg.model)
    model.cfg = cfg
    return model.to(device).eval()


__all__ = [
    'HF_SCHEME',
    'encoder_from_meta',
    'init_pretrained',
    'is_pretrained_spec',
    'pretrained_model_config',
]
