"""MiDaS v3.1 checkpoints: official ``.pt`` <-> our ``MiDaS`` estimator.

The official state dicts (``dpt_beit_large_512.pt``, ``dpt_swin2_tiny_256.pt``) hold
``pretrained.model.*`` (the timm 0.6.12 backbone), ``pretrained.act_postprocess*``
(BEiT readout / reassembly) and ``scratch.*`` (the DPT decoder) -- the names our
``MiDaS`` uses, except where current timm renamed things:

* Swin-V2: timm 0.6.12 kept each PatchMerging at the end of stage i
  (``layers.{i}.downsample``), current timm at the start of stage i+1
  (``layers.{i+1}.downsample``); the classifier ``head.*`` became ``head.fc.*``.
* Structural buffers: BEiT's ``relative_position_index`` and Swin-V2's
  ``attn_mask`` were persistent in timm 0.6.12 and are rebuilt by the model now;
  they are dropped on load (present or not) and written back by
  :func:`to_midas_layout`.

Layouts recognised: ``midas`` (official), ``midas_timm`` (our own ``state_dict()``:
current timm names) and ``ours`` (training checkpoints with ``student.*`` keys).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Tuple, Union

import torch
from torch import nn

StateDict = Dict[str, torch.Tensor]

MIDAS_LAYOUTS = ('midas', 'midas_timm', 'ours')
_STRUCTURAL = ('.relative_position_index', '.attn_mask')
_SWIN_DOWNSAMPLE = re.compile(r'^pretrained\.model\.layers\.(\d+)\.downsample\.')


def is_midas_model(model: nn.Module) -> bool:
    """Whether ``model`` is our MiDaS estimator (official ``pretrained``/``scratch`` tree)."""
    return getattr(model, 'checkpoint_family', None) == 'midas'


def is_midas_state(state: Mapping[str, torch.Tensor]) -> bool:
    """Whether a state dict holds MiDaS keys (``[student.]scratch.output_conv.*``)."""
    return any(
        k.startswith(('scratch.output_conv.', 'student.scratch.output_conv.')) for k in state
    )


def _is_swin(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith('pretrained.model.layers.') for k in state)


def from_midas_layout(state: Mapping[str, torch.Tensor]) -> Tuple[StateDict, str]:
    """Rename any MiDaS layout to our model's names; drop structural buffers.

    Returns:
        tuple: the renamed state dict and the layout it came from.
    """
    state = dict(state)
    layout = 'midas_timm'
    if any(k.startswith('student.') for k in state):
        state = {k[len('student.') :]: v for k, v in state.items() if k.startswith('student.')}
        layout = 'ours'
    state = {k: v for k, v in state.items() if not k.endswith(_STRUCTURAL)}
    if _is_swin(state) and (
        'pretrained.model.layers.0.downsample.reduction.weight' in state
        or 'pretrained.model.head.weight' in state
    ):
        layout = 'midas'
        out: StateDict = OrderedDict()
        for key, value in state.items():
            match = _SWIN_DOWNSAMPLE.match(key)
            if match:
                stage = int(match.group(1)) + 1
                key = f'pretrained.model.layers.{stage}.downsample.' + key[match.end() :]
            elif key.startswith('pretrained.model.head.') and not key.startswith(
                'pretrained.model.head.fc.'
            ):
                key = 'pretrained.model.head.fc.' + key[len('pretrained.model.head.') :]
            out[key] = value
        return out, layout
    if layout == 'midas_timm' and not _is_swin(state):
        layout = 'midas'  # BEiT: the names are the same in both timm versions
    return OrderedDict(state), layout


def to_midas_layout(
    state: Mapping[str, torch.Tensor], structural: Optional[Mapping[str, torch.Tensor]] = None
) -> StateDict:
    """Our ``MiDaS`` state dict -> the official (timm 0.6.12) layout.

    Args:
        state (Mapping): ``MiDaS.state_dict()`` (or a ``student.*`` one).
        structural (Mapping, optional): the structural buffers to write back under
            their official names (``MiDaS.structural_buffers()``), so that the
            official code loads the file with ``strict=True``.

    Returns:
        dict: ``pretrained.model.*``, ``pretrained.act_postprocess*``, ``scratch.*``.
    """
    state, _ = from_midas_layout(state)  # normalizes prefixes and old names
    swin = _is_swin(state)
    out: StateDict = OrderedDict()
    for key, value in state.items():
        if swin:
            match = _SWIN_DOWNSAMPLE.match(key)
            if match:
                stage = int(match.group(1)) - 1
                key = f'pretrained.model.layers.{stage}.downsample.' + key[match.end() :]
            elif key.startswith('pretrained.model.head.fc.'):
                key = 'pretrained.model.head.' + key[len('pretrained.model.head.fc.') :]
        out[key] = value
    for key, value in (structural or {}).items():
        out[key] = value
    return out


def load_midas_checkpoint(
    model: nn.Module,
    checkpoint: Union[str, Mapping],
    layout: Optional[str] = None,
    scope: str = 'all',
) -> str:
    """Load an official or our MiDaS checkpoint into ``MiDaS``, strictly.

    Args:
        model (MiDaS): the model to fill.
        checkpoint (str | Mapping): a path (``.pt``/``.pth``/``.safetensors``) or a
            loaded checkpoint dict.
        layout (str, optional): unused (the layout is detected); accepted for the
            signature of ``load_depth_checkpoint``.
        scope (str): ``'all'``, or ``'encoder'`` to load only ``pretrained.*`` and
            keep the decoder's fresh initialization (Table 5).

    Returns:
        str: the detected layout (one of :data:`MIDAS_LAYOUTS`).

    Raises:
        CheckpointError: unreadable file, or keys/shapes that do not fit.
    """
    from .checkpoint_loading import CheckpointError, read_checkpoint, split_checkpoint

    source = checkpoint if isinstance(checkpoint, str) else 'checkpoint dict'
    if isinstance(checkpoint, str):
        state, _ = read_checkpoint(checkpoint)
    else:
        state, _ = split_checkpoint(checkpoint, source)
    for prefix in ('module.', '_orig_mod.'):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    if not is_midas_state(state):
        raise CheckpointError(
            f'{source} is not a MiDaS checkpoint (no scratch.output_conv.* keys; first keys '
            f'{list(state)[:4]}): give a MiDaS v3.1 .pt (e.g. dpt_beit_large_512.pt) or a '
            'checkpoint of a MiDaS student'
        )
    state, found = from_midas_layout(state)
    if scope not in ('all', 'encoder'):
        raise ValueError(f"load_midas_checkpoint: scope must be 'all' or 'encoder', got {scope!r}")
    own = model.state_dict()
    if scope == 'encoder':
        state = {k: v for k, v in state.items() if k.startswith('pretrained.')}
        state.update({k: v for k, v in own.items() if not k.startswith('pretrained.')})
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f'{source} (layout {found}) does not fit the MiDaS model '
            f'({getattr(model, "backbone_name", "?")}): {len(missing)} missing keys '
            f'{missing[:6]}, {len(unexpected)} unexpected keys {unexpected[:6]}, '
            f"{len(wrong)} shape mismatches {wrong[:6]}. Check the config's backbone "
            '(dpt_beit_large_512 vs dpt_swin2_tiny_256) against the file.'
        )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)
    return found
