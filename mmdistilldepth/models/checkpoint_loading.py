"""One loader for every Depth Anything V2 checkpoint layout.

Layouts recognised from the key names:

``dav2``
    Official Depth Anything V2 ``.pth`` and Distill-Any-Depth small/base
    ``.safetensors``: a bare state dict with ``pretrained.*`` (DINOv2) and
    ``depth_head.*`` (DPT). Our ``DepthAnythingV2`` uses the same names.
``dad_large``
    Distill-Any-Depth Large ``.safetensors``: ``backbone.*`` with chunked blocks
    ``backbone.blocks.0.<i>.*`` (DINOv2 ``block_chunks=1``) and ``depth_head.*``; its
    head applies the final ReLU after a bilinear resize to the input size, so the
    loader sets ``final_relu_after_upsample`` on the model.
``hf``
    A transformers folder (``config.json`` + ``model.safetensors``, keys
    ``backbone.*``/``neck.*``/``head.*``): the ``-hf`` repositories and what
    ``convert_checkpoint.py --to hf`` writes (:mod:`~mmdistilldepth.models.hf_layout`).
``ours``
    Our training checkpoints (MMEngine ``{'state_dict': ..., 'meta': ...}``) whose
    student keys are ``student.*`` (the distiller's ``DepthAnythingV2``); other
    distiller keys (teachers, frozen feature encoders) are ignored.

A path may also be a transformers folder or a hub reference ``hf://ORG/NAME[/PATH]``
(:mod:`mmdistilldepth.utils.hub`). Files are read with ``safetensors`` or
``torch.load(weights_only=True)``: loading never runs code from a pickle.

This module is the one home of checkpoint *loading*: reading files, their layouts,
and the ``weights_only`` allow-list for MMEngine's own checkpoints
(:func:`allow_mmengine_checkpoints`), and the checks before MMEngine loads a
checkpoint for ``--resume`` or ``load_from`` (:func:`check_checkpoint_safe`,
:func:`unsafe_globals`, :func:`latest_checkpoint`). Writing checkpoints atomically
lives in :mod:`mmdistilldepth.engine.checkpoint_io` (which re-exports the checks
under their old import path); :mod:`mmdistilldepth.utils.checkpoint_compat`
re-exports the allow-list.

MMEngine's checkpoints under torch >= 2.6:

torch 2.6 made ``torch.load(..., weights_only=True)`` the default. mmengine 0.10.7
saves a few non-tensor objects in its checkpoints (the message hub's
``HistoryBuffer`` s and the numpy arrays and scalars they hold), so its own
``torch.load`` calls fail on resume. Instead of turning ``weights_only`` off (which
would let a malicious checkpoint run code while it unpickles), we allow-list exactly
the classes and functions mmengine writes. Everything else is still refused.

``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'min')``
and so on. Rather than allow-listing Python's ``getattr`` (which would let a
checkpoint read any attribute of any object it can build), the name
``builtins.getattr`` is bound to :func:`_history_buffer_getattr`, which resolves
exactly those statistics methods and refuses everything else.

The allow-list is a global of torch, so importing the package does not touch it:
:func:`allow_mmengine_checkpoints` runs where checkpoints are loaded
(:func:`read_checkpoint`, :func:`check_checkpoint_safe`
before a resume or ``load_from``).
"""

from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

StateDict = Dict[str, torch.Tensor]

LAYOUTS = ('dav2', 'dad_large', 'hf', 'ours')
STUDENT_PREFIX = 'student.'
_CHUNKED_BLOCK = re.compile(r'^blocks\.\d+\.(\d+)\.')
# Distiller-level wrappers that may appear in front of the keys.
_WRAPPER_PREFIXES = ('module.', '_orig_mod.')


def _numpy_globals() -> list:
    """The numpy callables and classes needed to unpickle arrays and scalars."""
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [
        type(np.dtype(name))
        for name in (
            'bool',
            'int8',
            'int16',
            'int32',
            'int64',
            'uint8',
            'uint16',
            'uint32',
            'uint64',
            'float16',
            'float32',
            'float64',
        )
    ]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def _history_buffer_getattr(obj, name: str):
    """``getattr`` restricted to ``HistoryBuffer``'s registered statistics methods."""
    from mmengine.logging.history_buffer import HistoryBuffer

    if obj is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only '
        'HistoryBuffer statistics methods may be resolved'
    )


def allow_mmengine_checkpoints() -> None:
    """Add mmengine's checkpoint globals to torch's ``weights_only`` allow-list.

    Idempotent. Called where checkpoints are loaded, never at import: call it
    before MMEngine's ``runner.resume``/``load_checkpoint`` if you load one yourself.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # pragma: no cover - torch < 2.4 loads freely
        return
    from mmengine.logging.history_buffer import HistoryBuffer

    HistoryBuffer()  # registers the default statistics methods on the class
    add_safe_globals(
        [HistoryBuffer, *_numpy_globals(), (_history_buffer_getattr, 'builtins.getattr')]
    )


CONVERT_HINT = (
    'python tools/model_converters/convert_checkpoint.py {path} OUT.pth --to ours '
    '--unsafe-allow-pickle (keeps the student weights; start from them with '
    'load_from=OUT.pth)'
)


def unsafe_globals(path: str) -> List[str]:
    """The objects in a torch checkpoint that ``weights_only=True`` would refuse.

    Reads the pickle's opcodes only (no tensor data, nothing is run). The allow-list
    is torch's plus what :mod:`mmdistilldepth` adds for MMEngine's own checkpoints.

    Raises:
        UserInputError: the file is not a readable torch checkpoint.
    """
    from mmdistilldepth.utils.cli import UserInputError

    allow_mmengine_checkpoints()
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except (RuntimeError, ValueError, pickle.UnpicklingError, EOFError, OSError):
        pass  # e.g. the legacy (non-zip) format: let a weights-only load decide
    try:
        torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.findall(r'GLOBAL (\S+)', str(exc))
        return found or [str(exc).splitlines()[0]]
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise UserInputError(
            f'checkpoint {path} is not a readable torch checkpoint '
            f'({str(exc).splitlines()[0]}); it may be truncated (a save that was killed) '
            'or another kind of file: give another checkpoint'
        ) from None
    return []


def check_checkpoint_safe(path: Optional[str], what: str = 'checkpoint') -> None:
    """Refuse, in one line, a checkpoint MMEngine could not load without unpickling code.

    MMEngine's ``resume`` and ``load_from`` read torch files with ``torch.load``,
    which under torch >= 2.6 is ``weights_only=True``: a file holding other objects
    fails there with a long message. This check fails first, naming the objects and
    the way to convert the file if it is trusted.

    Args:
        path (str, optional): the checkpoint; None or '' does nothing.
        what (str): how the message names it (``'checkpoint to resume from'``).

    Raises:
        UserInputError: missing, not a torch checkpoint, safetensors (which MMEngine
            cannot read), or in need of arbitrary unpickling.
    """
    from mmdistilldepth.utils.cli import UserInputError

    # MMEngine's resume / load_from read the file next with weights_only=True.
    allow_mmengine_checkpoints()
    if not path:
        return
    if not os.path.isfile(path):
        raise UserInputError(f'{what} {path} does not exist')
    if path.endswith('.safetensors'):
        raise UserInputError(
            f'{what} {path} is a safetensors file, but MMEngine reads torch checkpoints '
            f'here: convert it with python tools/model_converters/convert_checkpoint.py '
            f"{path} OUT.pth --to ours, or give it as the model's own checkpoint "
            '(model.student.checkpoint=PATH)'
        )
    unsafe = unsafe_globals(path)
    if unsafe:
        raise UserInputError(
            f'{what} {path} holds objects that only arbitrary unpickling can load '
            f'({", ".join(unsafe[:5])}{" ..." if len(unsafe) > 5 else ""}), which could '
            'run code from the file, so it is refused. Only if you trust the file, '
            f'convert it once: {CONVERT_HINT.format(path=path)}'
        )


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``work_dir/last_checkpoint`` points to, as ``--resume`` finds it.

    Returns:
        str or None: None when there is no pointer (a fresh run).

    Raises:
        UserInputError: the pointer is empty or names a missing file.
    """
    from mmdistilldepth.utils.cli import UserInputError

    pointer = os.path.join(work_dir, 'last_checkpoint')
    if not os.path.isfile(pointer):
        return None
    with open(pointer, encoding='utf-8') as f:
        path = f.read().strip()
    if not path or not os.path.isfile(path):
        raise UserInputError(
            f'{pointer} points to {path or "nothing"!r}, which does not exist; resume from '
            'a given checkpoint with --resume PATH (or delete the pointer to start over)'
        )
    return path


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the model."""


def read_checkpoint(path: str) -> Tuple[StateDict, dict]:
    """Read a checkpoint file without unpickling arbitrary objects.

    Args:
        path (str): ``.safetensors`` or a torch file (``.pth``/``.pt``/``.ckpt``), a
            transformers folder, or a hub reference ``hf://ORG/NAME[/PATH]``.

    Returns:
        tuple: the flat state dict (tensors only) and the ``meta`` dict (empty when
        the file has none).

    Raises:
        CheckpointError: missing file, or a pickle that needs arbitrary code.
    """
    from mmdistilldepth.utils.hub import HubError, resolve_checkpoint

    from .hf_layout import HFLayoutError, is_hf_folder, read_hf_config, read_hf_weights

    try:
        path = resolve_checkpoint(path)  # hf://... -> a file or folder in the hub cache
        if is_hf_folder(path):
            return read_hf_weights(path), dict(hf_config=read_hf_config(path))
    except (HubError, HFLayoutError) as exc:
        raise CheckpointError(str(exc)) from None
    if not os.path.isfile(path):
        raise CheckpointError(
            f'checkpoint {path!r} does not exist: download it (docs/models.md lists the '
            'files) or point the config at yours, e.g. --cfg-options '
            'model.student.checkpoint=PATH model.teacher.checkpoint=PATH'
        )
    if path.endswith('.safetensors'):
        from safetensors import safe_open

        with safe_open(path, framework='pt', device='cpu') as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
            meta = dict(f.metadata() or {})
        return state, meta
    allow_mmengine_checkpoints()
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f'{path}: refusing to unpickle it (torch.load(weights_only=True) failed: '
            f'{str(exc).splitlines()[0]}). Only if you trust the file, convert it once with '
            f'`python tools/model_converters/convert_checkpoint.py {path} OUT.safetensors '
            '--to dav2 --unsafe-allow-pickle` and load OUT.safetensors'
        ) from exc
    return split_checkpoint(obj, path)


def split_checkpoint(obj, source: str = 'checkpoint') -> Tuple[StateDict, dict]:
    """Take the state dict (and meta) out of a loaded checkpoint object."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f'{source}: expected a dict of tensors, got {type(obj).__name__}')
    meta = dict(obj.get('meta') or {}) if isinstance(obj.get('meta'), Mapping) else {}
    for key in ('state_dict', 'model', 'module'):
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise CheckpointError(f'{source}: holds no tensors (keys: {list(obj)[:8]})')
    return state, meta


def _strip_wrappers(state: StateDict) -> StateDict:
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def detect_layout(state: Mapping[str, torch.Tensor]) -> str:
    """Guess the layout (one of :data:`LAYOUTS`) from the key names.

    Raises:
        CheckpointError: no known layout fits; the message shows sample keys.
    """
    from .hf_layout import is_hf_state

    keys = list(state)
    if any(k.startswith(STUDENT_PREFIX + 'pretrained.') for k in keys):
        return 'ours'
    if is_hf_state(state):
        return 'hf'
    if any(k.startswith('pretrained.') for k in keys):
        return 'dav2'
    if any(k.startswith('backbone.') for k in keys) and any(
        k.startswith('depth_head.') for k in keys
    ):
        return 'dad_large'
    raise CheckpointError(
        'cannot tell the checkpoint layout: expected pretrained.*/depth_head.* '
        '(Depth Anything V2, Distill-Any-Depth S/B), backbone.*/depth_head.* '
        '(Distill-Any-Depth Large), backbone.embeddings.*/neck.* (transformers) or student.* '
        '(mmdistilldepth training); first keys: '
        f'{keys[:5]}'
    )


def to_dav2_layout(state: StateDict, layout: Optional[str] = None) -> Tuple[StateDict, str]:
    """Rename a state dict of any known layout to the official DAv2 names.

    Returns:
        tuple: the renamed state dict (``pretrained.*``, ``depth_head.*``) and the
        layout it came from.
    """
    state = _strip_wrappers(dict(state))
    layout = layout or detect_layout(state)
    out: StateDict = OrderedDict()
    if layout == 'dav2':
        out.update(state)
    elif layout == 'ours':
        for key, value in state.items():
            if key.startswith(STUDENT_PREFIX):
                out[key[len(STUDENT_PREFIX) :]] = value
    elif layout == 'hf':
        from .hf_layout import HFLayoutError, hf_to_dav2

        try:
            out.update(hf_to_dav2(state))
        except HFLayoutError as exc:
            raise CheckpointError(str(exc)) from None
    elif layout == 'dad_large':
        for key, value in state.items():
            if key.startswith('backbone.'):
                key = 'pretrained.' + _CHUNKED_BLOCK.sub(r'blocks.\1.', key[len('backbone.') :])
            out[key] = value
    else:
        raise CheckpointError(f'unknown layout {layout!r}; choose one of {LAYOUTS}')
    return out, layout


def describe_encoder(state: Mapping[str, torch.Tensor]) -> str:
    """'embed_dim 384, 12 blocks' for a DAv2-layout state dict (for messages)."""
    pos = state.get('pretrained.pos_embed')
    blocks = {int(m.group(1)) for k in state if (m := re.match(r'pretrained\.blocks\.(\d+)\.', k))}
    dim = pos.shape[-1] if pos is not None else '?'
    return f'embed_dim {dim}, {len(blocks)} blocks'


def load_depth_checkpoint(
    model: nn.Module,
    checkpoint: Union[str, Mapping],
    layout: Optional[str] = None,
    scope: str = 'all',
) -> str:
    """Load any known checkpoint layout into a ``DepthAnythingV2``, strictly.

    Tensors are cast to the model's dtypes (fp16 files load exactly as ``.float()``).
    A missing ``pretrained.mask_token`` (some releases delete it; it is unused at
    inference) is the one tolerated difference.

    Args:
        model (DepthAnythingV2): the model to fill.
        checkpoint (str | Mapping): a path, or an already loaded checkpoint dict.
        layout (str, optional): force a layout instead of detecting it.
        scope (str): ``'all'``, or ``'encoder'`` to load only the encoder
            (``pretrained.*``) and keep the head's fresh initialization: the paper's
            Table 5 setting (appendix C.1), decoder trained from scratch.

    Returns:
        str: the layout that was loaded.

    Raises:
        CheckpointError: unreadable file, unknown layout, or keys/shapes that do not
            match (the message names the missing and unexpected keys and the layout).
    """
    if getattr(model, 'checkpoint_family', None) == 'midas':  # MiDaS: midas_checkpoint.py
        from .midas_checkpoint import load_midas_checkpoint

        return load_midas_checkpoint(model, checkpoint, layout, scope)
    source = checkpoint if isinstance(checkpoint, str) else 'checkpoint dict'
    if isinstance(checkpoint, str):
        state, _ = read_checkpoint(checkpoint)
    else:
        state, _ = split_checkpoint(checkpoint, source)
    state, layout = to_dav2_layout(state, layout)
    own = model.state_dict()
    if scope not in ('all', 'encoder'):
        raise ValueError(f"load_depth_checkpoint: scope must be 'all' or 'encoder', got {scope!r}")
    if scope == 'encoder':
        state = {k: v for k, v in state.items() if k.startswith('pretrained.')}
        state.update({k: v for k, v in own.items() if not k.startswith('pretrained.')})
    if 'pretrained.mask_token' in own and 'pretrained.mask_token' not in state:
        state['pretrained.mask_token'] = own['pretrained.mask_token']
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = [
        f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong_shape:
        raise CheckpointError(
            f'{source} (layout guessed: {layout}, encoder {describe_encoder(state)}) does '
            f'not fit the model (encoder {describe_encoder(own)}): '
            f'{len(missing)} missing keys {_short(missing)}, '
            f'{len(unexpected)} unexpected keys {_short(unexpected)}, '
            f'{len(wrong_shape)} shape mismatches {_short(wrong_shape)}. '
            "Check the config's encoder/features/out_channels against the checkpoint."
        )
    state = {k: v.to(own[k].dtype) for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    if layout == 'dad_large' and scope == 'all' and hasattr(model, 'depth_head'):
        model.depth_head.final_relu_after_upsample = True
    return layout


def _short(items, n: int = 6) -> str:
    return str(items[:n]) + (' ...' if len(items) > n else '')
