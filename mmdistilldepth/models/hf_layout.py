"""The Hugging Face ``transformers`` layout of Depth Anything (``model_type: depth_anything``).

A transformers folder holds ``config.json`` (``DepthAnythingConfig`` with a DINOv2
``backbone_config``) and ``model.safetensors`` whose keys are ``backbone.*``
(``Dinov2Backbone``), ``neck.*`` and ``head.*``. This module converts between that
layout and the official Depth Anything V2 names our ``DepthAnythingV2`` uses
(``pretrained.*``, ``depth_head.*``), and between ``config.json`` and our
constructor arguments. Nothing here imports transformers.

The correspondence (official -> transformers):

==============================================  =============================================
``pretrained.cls_token`` / ``mask_token``        ``backbone.embeddings.cls_token`` / ``mask_token``
``pretrained.pos_embed``                         ``backbone.embeddings.position_embeddings``
``pretrained.patch_embed.proj``                  ``backbone.embeddings.patch_embeddings.projection``
``pretrained.blocks.{i}.attn.qkv`` (fused)       ``backbone.encoder.layer.{i}.attention.attention.{query,key,value}``
``pretrained.blocks.{i}.attn.proj``              ``backbone.encoder.layer.{i}.attention.output.dense``
``pretrained.blocks.{i}.ls{1,2}.gamma``          ``backbone.encoder.layer.{i}.layer_scale{1,2}.lambda1``
``pretrained.blocks.{i}.mlp.{fc1,fc2}``          ``backbone.encoder.layer.{i}.mlp.{fc1,fc2}``
``pretrained.blocks.{i}.mlp.{w12,w3}`` (ViT-g)   ``backbone.encoder.layer.{i}.mlp.{weights_in,weights_out}``
``pretrained.norm``                              ``backbone.layernorm``
``depth_head.projects.{k}``                      ``neck.reassemble_stage.layers.{k}.projection``
``depth_head.resize_layers.{k}``                 ``neck.reassemble_stage.layers.{k}.resize``
``depth_head.scratch.layer{k+1}_rn``             ``neck.convs.{k}``
``depth_head.scratch.refinenet{4-k}.out_conv``   ``neck.fusion_stage.layers.{k}.projection``
``...refinenet{4-k}.resConfUnit{1,2}.conv{1,2}`` ``neck.fusion_stage.layers.{k}.residual_layer{1,2}.convolution{1,2}``
``depth_head.scratch.output_conv1``              ``head.conv1``
``depth_head.scratch.output_conv2.{0,2}``        ``head.conv{2,3}``
==============================================  =============================================

The hub's files use these (transformers 4.x) names; transformers 5 renames the
attention and SwiGLU weights when it loads them (``attention.{q,k,v,o}_proj``,
``mlp.{gate,up,down}_proj``), and :func:`hf_to_dav2` reads both spellings.

One difference is in the model, not the weights: transformers resizes the positional
embedding to the target patch grid (``size=(H/14, W/14)``), the official code by a
scale factor with a 0.1 offset (:func:`~mmdistilldepth.models.backbones.pos_embed.
interpolate_pos_embed_dav2`). At 518x518 the two are the same model; at other sizes
their outputs differ by about 3e-3 of the maximum (docs/models.md).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Sequence

import torch

from mmdistilldepth.utils.hub import HF_WEIGHT_FILES

StateDict = Dict[str, torch.Tensor]

HF_MODEL_TYPE = 'depth_anything'
HF_ARCHITECTURE = 'DepthAnythingForDepthEstimation'
#: DINOv2 pretraining size: the positional embedding's grid is 518 / 14 = 37.
HF_IMAGE_SIZE = 518

_FIXED = {  # official name -> transformers name, outside the numbered parts
    'pretrained.cls_token': 'backbone.embeddings.cls_token',
    'pretrained.mask_token': 'backbone.embeddings.mask_token',
    'pretrained.pos_embed': 'backbone.embeddings.position_embeddings',
    'pretrained.patch_embed.proj': 'backbone.embeddings.patch_embeddings.projection',
    'pretrained.norm': 'backbone.layernorm',
    'depth_head.scratch.output_conv1': 'head.conv1',
    'depth_head.scratch.output_conv2.0': 'head.conv2',
    'depth_head.scratch.output_conv2.2': 'head.conv3',
}
_BLOCK = {  # suffix of pretrained.blocks.{i}. -> of backbone.encoder.layer.{i}.
    'norm1': 'norm1',
    'norm2': 'norm2',
    'attn.proj': 'attention.output.dense',
    'ls1.gamma': 'layer_scale1.lambda1',
    'ls2.gamma': 'layer_scale2.lambda1',
    'mlp.fc1': 'mlp.fc1',
    'mlp.fc2': 'mlp.fc2',
    'mlp.w12': 'mlp.weights_in',
    'mlp.w3': 'mlp.weights_out',
}
_UNIT = {'resConfUnit1': 'residual_layer1', 'resConfUnit2': 'residual_layer2'}
_CONV = {'conv1': 'convolution1', 'conv2': 'convolution2'}
#: transformers 5 spellings -> the hub's (transformers 4) ones
_V5_NAMES = [
    ('.attention.q_proj.', '.attention.attention.query.'),
    ('.attention.k_proj.', '.attention.attention.key.'),
    ('.attention.v_proj.', '.attention.attention.value.'),
    ('.attention.o_proj.', '.attention.output.dense.'),
    ('.mlp.down_proj.', '.mlp.weights_out.'),
]
_QKV = ('query', 'key', 'value')


class HFLayoutError(ValueError):
    """A config.json or state dict that is not a Depth Anything transformers model."""


def _split_param(key: str):
    """``'a.b.weight'`` -> ``('a.b', 'weight')``; ``'a.cls_token'`` -> ``('a.cls_token', '')``."""
    module, _, leaf = key.rpartition('.')
    if leaf in ('weight', 'bias'):
        return module, leaf
    return key, ''


def _join(module: str, leaf: str) -> str:
    return f'{module}.{leaf}' if leaf else module


def _official_to_hf_module(module: str) -> Optional[str]:
    if module in _FIXED:
        return _FIXED[module]
    m = re.fullmatch(r'pretrained\.blocks\.(\d+)\.(.+)', module)
    if m and m.group(2) in _BLOCK:
        return f'backbone.encoder.layer.{m.group(1)}.{_BLOCK[m.group(2)]}'
    m = re.fullmatch(r'depth_head\.projects\.(\d)', module)
    if m:
        return f'neck.reassemble_stage.layers.{m.group(1)}.projection'
    m = re.fullmatch(r'depth_head\.resize_layers\.(\d)', module)
    if m:
        return f'neck.reassemble_stage.layers.{m.group(1)}.resize'
    m = re.fullmatch(r'depth_head\.scratch\.layer(\d)_rn', module)
    if m:
        return f'neck.convs.{int(m.group(1)) - 1}'
    m = re.fullmatch(r'depth_head\.scratch\.refinenet(\d)\.out_conv', module)
    if m:
        return f'neck.fusion_stage.layers.{4 - int(m.group(1))}.projection'
    m = re.fullmatch(r'depth_head\.scratch\.refinenet(\d)\.(resConfUnit\d)\.(conv\d)', module)
    if m and m.group(2) in _UNIT and m.group(3) in _CONV:
        return (
            f'neck.fusion_stage.layers.{4 - int(m.group(1))}.'
            f'{_UNIT[m.group(2)]}.{_CONV[m.group(3)]}'
        )
    return None


def dav2_to_hf(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Official Depth Anything V2 names -> the hub's transformers names.

    The fused ``attn.qkv`` splits into ``query``/``key``/``value`` (row blocks of
    equal size); every other tensor is renamed unchanged.

    Args:
        state: ``pretrained.*`` / ``depth_head.*`` tensors (e.g. from
            :func:`~mmdistilldepth.models.checkpoint_loading.to_dav2_layout`).

    Returns:
        dict: ``backbone.*`` / ``neck.*`` / ``head.*`` tensors.

    Raises:
        HFLayoutError: a key transformers has no place for (``readout_projects`` of
            ``use_clstoken``, BatchNorm of ``use_bn``): the message names it.
    """
    out: StateDict = OrderedDict()
    unknown = []
    for key, value in state.items():
        module, leaf = _split_param(key)
        m = re.fullmatch(r'pretrained\.blocks\.(\d+)\.attn\.qkv', module)
        if m:
            for name, part in zip(_QKV, value.chunk(3, dim=0)):
                out[f'backbone.encoder.layer.{m.group(1)}.attention.attention.{name}.{leaf}'] = (
                    part.contiguous()
                )
            continue
        target = _official_to_hf_module(module)
        if target is None:
            unknown.append(key)
        else:
            out[_join(target, leaf)] = value
    if unknown:
        raise HFLayoutError(
            f"{len(unknown)} tensors have no place in transformers' DepthAnything model, "
            f'e.g. {unknown[:4]}: it supports use_clstoken=False and use_bn=False only '
            '(every released Depth Anything V2)'
        )
    return out


def _hf_to_official_table(hf_keys: Sequence[str]) -> Dict[str, str]:
    """Reverse map (transformers module -> official module) for the modules present."""
    table = {v: k for k, v in _FIXED.items()}
    layers = {
        int(m.group(1)) for k in hf_keys if (m := re.match(r'backbone\.encoder\.layer\.(\d+)\.', k))
    }
    for i in layers:
        for ours, theirs in _BLOCK.items():
            table[f'backbone.encoder.layer.{i}.{theirs}'] = f'pretrained.blocks.{i}.{ours}'
    for k in range(4):
        table[f'neck.reassemble_stage.layers.{k}.projection'] = f'depth_head.projects.{k}'
        table[f'neck.reassemble_stage.layers.{k}.resize'] = f'depth_head.resize_layers.{k}'
        table[f'neck.convs.{k}'] = f'depth_head.scratch.layer{k + 1}_rn'
        ref = f'depth_head.scratch.refinenet{4 - k}'
        table[f'neck.fusion_stage.layers.{k}.projection'] = f'{ref}.out_conv'
        for unit, theirs_unit in _UNIT.items():
            for conv, theirs_conv in _CONV.items():
                table[f'neck.fusion_stage.layers.{k}.{theirs_unit}.{theirs_conv}'] = (
                    f'{ref}.{unit}.{conv}'
                )
    return table


def hf_to_dav2(state: Mapping[str, torch.Tensor]) -> StateDict:
    """The transformers layout (either spelling) -> official Depth Anything V2 names.

    Raises:
        HFLayoutError: a key that is not part of a Depth Anything model.
    """
    state = dict(state)
    for key in list(state):  # transformers 5 spellings -> the hub's
        new = key
        for v5, v4 in _V5_NAMES:
            new = new.replace(v5, v4)
        if new != key:
            state[new] = state.pop(key)
    # the two halves of the fused SwiGLU input (x1 gates x2, as in DINOv2's w12)
    for key in [k for k in state if re.fullmatch(r'.+\.mlp\.gate_proj\.(weight|bias)', k)]:
        up = key.replace('.gate_proj.', '.up_proj.')
        state[key.replace('.gate_proj.', '.weights_in.')] = torch.cat(
            (state.pop(key), state.pop(up)), dim=0
        )
    table = _hf_to_official_table(list(state))
    out: StateDict = OrderedDict()
    qkv: Dict[str, Dict[str, torch.Tensor]] = {}
    unknown = []
    for key, value in state.items():
        module, leaf = _split_param(key)
        m = re.fullmatch(
            r'backbone\.encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)', module
        )
        if m:
            qkv.setdefault(f'pretrained.blocks.{m.group(1)}.attn.qkv.{leaf}', {})[m.group(2)] = (
                value
            )
        elif module in table:
            out[_join(table[module], leaf)] = value
        else:
            unknown.append(key)
    if unknown:
        raise HFLayoutError(
            f'{len(unknown)} keys are not part of a Depth Anything '
            f'transformers model, e.g. {unknown[:4]}'
        )
    for key, parts in qkv.items():
        if set(parts) != set(_QKV):
            raise HFLayoutError(
                f'{key}: the checkpoint has only {sorted(parts)} of query/key/value'
            )
        out[key] = torch.cat([parts[name] for name in _QKV], dim=0)
    return out


def is_hf_state(state: Mapping[str, torch.Tensor]) -> bool:
    """Whether the keys are transformers' (``backbone.embeddings.*`` and ``neck.*``)."""
    keys = list(state)
    return any(k.startswith('backbone.embeddings.') for k in keys) and any(
        k.startswith('neck.') for k in keys
    )


def hf_config(
    arch: dict, features: int, out_channels: Sequence[int], max_depth: Optional[float] = None
) -> dict:
    """``config.json`` of ``DepthAnythingForDepthEstimation`` for our model's sizes.

    Args:
        arch (dict): the encoder (:func:`~mmdistilldepth.models.backbones.resolve_arch`).
        features (int): DPT fusion width (``fusion_hidden_size``).
        out_channels (Sequence[int]): the 4 level widths (``neck_hidden_sizes``).
        max_depth (float, optional): a metric head's range (``DepthAnythingV2(max_depth)``).

    Returns:
        dict: a relative-depth config (``depth_estimation_type='relative'``,
        ``max_depth=1``: the ReLU output is returned as it is), or with ``max_depth``
        a metric one (``'metric'``: ``sigmoid * max_depth``, the same tensors).
    """
    mlp_ratio = arch.get('mlp_ratio', 4.0)
    out_indices = [int(i) + 1 for i in arch['layer_idx']]  # stage 0 is the embedding
    stages = ['stem'] + [f'stage{i}' for i in range(1, arch['depth'] + 1)]
    return {
        'architectures': [HF_ARCHITECTURE],
        'model_type': HF_MODEL_TYPE,
        'backbone_config': {
            'model_type': 'dinov2',
            'architectures': ['Dinov2Model'],
            'hidden_size': arch['embed_dim'],
            'num_hidden_layers': arch['depth'],
            'num_attention_heads': arch['num_heads'],
            'mlp_ratio': _plain_number(mlp_ratio),
            'use_swiglu_ffn': arch.get('ffn', 'mlp') == 'swiglu',
            'image_size': HF_IMAGE_SIZE,
            'patch_size': 14,
            'layer_norm_eps': 1e-6,
            'layerscale_value': 1.0,
            'hidden_act': 'gelu',
            'qkv_bias': True,
            'apply_layernorm': True,
            'reshape_hidden_states': False,
            'out_indices': out_indices,
            'out_features': [stages[i] for i in out_indices],
            'stage_names': stages,
        },
        'patch_size': 14,
        'reassemble_hidden_size': arch['embed_dim'],
        'reassemble_factors': [4, 2, 1, 0.5],
        'neck_hidden_sizes': [int(c) for c in out_channels],
        'fusion_hidden_size': int(features),
        'head_in_index': -1,
        'head_hidden_size': 32,
        'depth_estimation_type': 'relative' if max_depth is None else 'metric',
        # An int where it is one: transformers 5 declares the field ``int | None``.
        'max_depth': 1 if max_depth is None else _plain_number(max_depth),
        'use_pretrained_backbone': False,
        'initializer_range': 0.02,
        'torch_dtype': 'float32',
    }


def _plain_number(value: float):
    """An int where the value is one (transformers 5 types some fields ``int``)."""
    return int(value) if float(value).is_integer() else float(value)


def model_args_from_hf_config(config: Mapping, source: str = 'config.json') -> dict:
    """``DepthAnythingV2`` constructor arguments for a transformers ``config.json``.

    Args:
        config (Mapping): the parsed ``config.json``.
        source (str): its path, for messages.

    Returns:
        dict: ``encoder`` (``'vits'``... when the sizes are an official DINOv2's, else
        a custom dict), ``features`` and ``out_channels``; and ``max_depth`` for a
        metric model (``depth_estimation_type: metric``, e.g. the
        ``Depth-Anything-V2-Metric-*-hf`` repositories).

    Raises:
        HFLayoutError: not ``model_type: depth_anything``, or a head variant our
            model does not have (the message says which key).
    """
    from .backbones.dinov2_vit import DINOV2_ARCHS

    if config.get('model_type') != HF_MODEL_TYPE:
        raise HFLayoutError(
            f'{source}: model_type is {config.get("model_type")!r}, not '
            f'{HF_MODEL_TYPE!r} (a transformers Depth Anything model)'
        )
    kind = config.get('depth_estimation_type', 'relative')
    if kind not in ('relative', 'metric'):
        raise HFLayoutError(
            f"{source}: depth_estimation_type {kind!r}: expected 'relative' (ReLU head) "
            "or 'metric' (sigmoid times max_depth)"
        )
    if kind == 'metric' and not (config.get('max_depth') or 0) > 0:
        raise HFLayoutError(f'{source}: a metric model needs max_depth > 0')
    if kind == 'relative' and config.get('max_depth', 1) not in (1, None):
        raise HFLayoutError(
            f'{source}: max_depth {config["max_depth"]} scales a relative '
            'head, which our DepthAnythingV2 does not do (expected 1)'
        )
    checks = {
        'head_hidden_size': 32,
        'head_in_index': -1,
        'patch_size': 14,
        'reassemble_factors': [4, 2, 1, 0.5],
    }
    for key, expected in checks.items():
        value = config.get(key, expected)
        if (list(value) if isinstance(expected, list) else value) != expected:
            raise HFLayoutError(f'{source}: {key} = {value} (our DPT head has {expected})')
    backbone = dict(config.get('backbone_config') or {})
    if backbone.get('model_type', 'dinov2') != 'dinov2':
        raise HFLayoutError(
            f'{source}: backbone_config.model_type '
            f'{backbone.get("model_type")!r}; only DINOv2 is supported'
        )
    if backbone.get('image_size', HF_IMAGE_SIZE) != HF_IMAGE_SIZE:
        raise HFLayoutError(
            f'{source}: backbone_config.image_size {backbone["image_size"]} '
            f'(our encoder has the {HF_IMAGE_SIZE} px positional grid)'
        )
    embed_dim = int(backbone.get('hidden_size', 384))
    depth = int(backbone.get('num_hidden_layers', 12))
    heads = int(backbone.get('num_attention_heads', 6))
    out_indices = backbone.get('out_indices')
    if out_indices is None and backbone.get('out_features'):
        out_indices = [int(f.replace('stage', '')) for f in backbone['out_features']]
    if out_indices is None or len(out_indices) != 4:
        raise HFLayoutError(f'{source}: backbone_config needs 4 out_indices, got {out_indices}')
    layer_idx = tuple(int(i) - 1 for i in out_indices)
    ffn = 'swiglu' if backbone.get('use_swiglu_ffn') else 'mlp'
    mlp_ratio = float(backbone.get('mlp_ratio', 4))
    encoder = dict(
        embed_dim=embed_dim,
        depth=depth,
        num_heads=heads,
        layer_idx=layer_idx,
        mlp_ratio=mlp_ratio,
        ffn=ffn,
    )
    for name, arch in DINOV2_ARCHS.items():
        if all(
            encoder[k] == arch.get(k, default)
            for k, default in (
                ('embed_dim', None),
                ('depth', None),
                ('num_heads', None),
                ('layer_idx', None),
                ('mlp_ratio', 4.0),
                ('ffn', 'mlp'),
            )
        ):
            encoder = name
            break
    return dict(
        encoder=encoder,
        features=int(config.get('fusion_hidden_size', 64)),
        out_channels=[int(c) for c in config.get('neck_hidden_sizes', (48, 96, 192, 384))],
        **({'max_depth': float(config['max_depth'])} if kind == 'metric' else {}),
    )


def model_args_from_state(
    state: Mapping[str, torch.Tensor], encoder: Optional[object] = None
) -> dict:
    """``DepthAnythingV2`` arguments that fit an official-layout state dict.

    The widths, depth, MLP ratio and FFN kind are read from the tensors. What the
    tensors do not hold comes from ``encoder`` when given (the config's value), else
    from the official size of that width and depth (``vits``... with its layer
    indices), else DINOv2's convention: 64 channels per head, four evenly spaced
    layers (:func:`~mmdistilldepth.models.backbones.resolve_arch`).

    Args:
        state: ``pretrained.*`` / ``depth_head.*`` tensors.
        encoder (str | dict, optional): the encoder as the config gives it.

    Returns:
        dict: ``encoder``, ``features``, ``out_channels``.

    Raises:
        HFLayoutError: not a Depth Anything V2 state dict, or a head variant
            (``use_clstoken``/``use_bn``) that transformers cannot hold.
    """
    from .backbones.dinov2_vit import DINOV2_ARCHS, resolve_arch

    if 'pretrained.pos_embed' not in state or 'depth_head.scratch.layer1_rn.weight' not in state:
        raise HFLayoutError(
            'not a Depth Anything V2 state dict: it lacks pretrained.pos_embed '
            f'or depth_head.scratch.layer1_rn.weight (first keys {list(state)[:4]})'
        )
    if any('readout_projects' in k or '.bn1.' in k for k in state):
        raise HFLayoutError(
            "this model uses use_clstoken or use_bn, which transformers' "
            'DepthAnything model does not have'
        )
    embed_dim = state['pretrained.pos_embed'].shape[-1]
    depth = 1 + max(
        int(m.group(1)) for k in state if (m := re.match(r'pretrained\.blocks\.(\d+)\.', k))
    )
    swiglu = 'pretrained.blocks.0.mlp.w12.weight' in state
    features = int(state['depth_head.scratch.layer1_rn.weight'].shape[0])
    out_channels = [int(state[f'depth_head.projects.{k}.weight'].shape[0]) for k in range(4)]
    if encoder is not None:
        arch = resolve_arch(encoder)
        if (arch['embed_dim'], arch['depth']) != (embed_dim, depth):
            raise HFLayoutError(
                f"the config's encoder ({arch['embed_dim']} wide, "
                f'{arch["depth"]} blocks) does not fit the checkpoint '
                f'({embed_dim} wide, {depth} blocks)'
            )
        return dict(encoder=encoder, features=features, out_channels=out_channels)
    for name, arch in DINOV2_ARCHS.items():
        if (arch['embed_dim'], arch['depth']) == (embed_dim, depth) and (
            arch.get('ffn') == 'swiglu'
        ) == swiglu:
            return dict(encoder=name, features=features, out_channels=out_channels)
    hidden = state[
        'pretrained.blocks.0.mlp.w12.weight' if swiglu else 'pretrained.blocks.0.mlp.fc1.weight'
    ].shape[0]
    custom = dict(
        embed_dim=embed_dim,
        depth=depth,
        num_heads=max(1, embed_dim // 64),
        ffn='swiglu' if swiglu else 'mlp',
    )
    if not swiglu:
        custom['mlp_ratio'] = hidden / embed_dim
    return dict(encoder=custom, features=features, out_channels=out_channels)


def write_hf_folder(folder: str, state: Mapping[str, torch.Tensor], config: dict) -> None:
    """Write ``config.json`` and ``model.safetensors`` (transformers' names) into ``folder``.

    Tensors keep their dtype; ``config['torch_dtype']`` records it.
    """
    import json
    import os

    from safetensors.torch import save_file

    os.makedirs(folder, exist_ok=True)
    dtypes = {v.dtype for v in state.values()}
    config = dict(config)
    if len(dtypes) == 1:
        config['torch_dtype'] = str(dtypes.pop()).replace('torch.', '')
    with open(os.path.join(folder, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
        f.write('\n')
    weights = os.path.join(folder, 'model.safetensors')
    save_file({k: v.contiguous() for k, v in state.items()}, weights, metadata={'format': 'pt'})
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(weights, 0o666 & ~umask)  # safetensors writes 0600; a folder to publish


def is_hf_folder(path: str) -> bool:
    """Whether ``path`` is a folder with a transformers ``config.json``."""
    import os

    return os.path.isdir(path) and os.path.isfile(os.path.join(path, 'config.json'))


def read_hf_config(folder: str) -> dict:
    """The parsed ``config.json`` of a transformers folder."""
    import json
    import os

    path = os.path.join(folder, 'config.json')
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise HFLayoutError(f'{path}: cannot read it as JSON ({exc})') from None


def hf_weights_file(folder: str) -> str:
    """The weights of a transformers folder (the first of :data:`HF_WEIGHT_FILES`)."""
    import os

    for name in HF_WEIGHT_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise HFLayoutError(f'{folder} has config.json but none of {list(HF_WEIGHT_FILES)}')


def read_hf_weights(folder: str) -> StateDict:
    """The tensors of a transformers folder, with transformers' names.

    ``model.safetensors``, a sharded ``model.safetensors.index.json``, or
    ``pytorch_model.bin`` (read with ``torch.load(weights_only=True)``).
    """
    import json
    import os

    from safetensors.torch import load_file

    path = hf_weights_file(folder)
    if path.endswith('.safetensors'):
        return load_file(path)
    if path.endswith('.index.json'):
        with open(path) as f:
            shards = sorted(set(json.load(f)['weight_map'].values()))
        state: StateDict = {}
        for shard in shards:
            state.update(load_file(os.path.join(folder, shard)))
        return state
    return torch.load(path, map_location='cpu', weights_only=True)
