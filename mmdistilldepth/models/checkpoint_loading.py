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


#: The checkpoints a run writes: ``iter_<N>.pth`` / ``epoch_<N>.pth`` (not ``best_*``).
_STEP_CHECKPOINT = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


def checkpoint_problem(path: str) -> Optional[str]:
    """Why a torch checkpoint cannot be resumed from, or None when it is whole.

    A torch checkpoint is a zip archive whose members carry a CRC-32. The whole file
    is streamed once and every member checked (``zipfile.testzip``, little memory):
    ``torch.load`` itself finds a truncated file but loads a corrupted one silently.
    Then the pickle is read as :func:`unsafe_globals` reads it.

    Args:
        path (str): the file.

    Returns:
        str or None: a short reason (``'truncated: not a complete zip archive'``), or
        None. A file that holds objects only arbitrary unpickling could load is not
        "unreadable": it is left to :func:`check_checkpoint_safe` to refuse.
    """
    import zipfile

    from mmdistilldepth.utils.cli import UserInputError

    if not os.path.isfile(path):
        return 'it does not exist'
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            return f'not a complete zip archive ({exc})'
        if bad is not None:
            return f'its member {bad} fails its CRC check (the file is corrupt)'
    elif os.path.getsize(path) == 0:
        return 'it is empty'
    else:
        with open(path, 'rb') as f:
            if f.read(4) == b'PK\x03\x04':  # a zip archive whose end is missing
                return 'truncated: the zip archive has no end (a save or copy that was cut)'
    try:
        unsafe_globals(path)
    except UserInputError:
        return 'torch cannot read it (truncated, or not a torch checkpoint)'
    return None


def _step_of(path: str) -> int:
    match = _STEP_CHECKPOINT.match(os.path.basename(path))
    return int(match.group(1)) if match else -1


def resume_checkpoint(work_dir: str, warn=None) -> Optional[str]:
    """The newest whole checkpoint of ``work_dir``: what ``--resume`` (auto) continues from.

    The file ``work_dir/last_checkpoint`` points to comes first; when it is missing,
    truncated or corrupt (:func:`checkpoint_problem`: a node died while it was being
    copied, a disk filled up, a bit flipped), the run falls back to the newest
    other ``iter_<N>.pth``/``epoch_<N>.pth`` of the work dir that is whole, and
    ``warn`` names the bad file in one line. The bad file is left where it is
    (every rank makes the same choice, read-only); a later save of the same
    iteration replaces it.

    Args:
        work_dir (str): the run's work dir.
        warn (callable, optional): called with each one-line message; default prints
            to stderr.

    Returns:
        str or None: the checkpoint, or None when the work dir has none (a fresh run).

    Raises:
        UserInputError: checkpoints exist but none of them is whole.
    """
    import sys

    from mmdistilldepth.utils.cli import UserInputError

    if warn is None:

        def warn(message):
            print(message, file=sys.stderr, flush=True)

    pointer = os.path.join(work_dir, 'last_checkpoint')
    candidates = []
    if os.path.isfile(pointer):
        with open(pointer, encoding='utf-8') as f:
            named = f.read().strip()
        if named:
            candidates.append(named)
    if os.path.isdir(work_dir):
        found = [
            os.path.join(work_dir, name)
            for name in os.listdir(work_dir)
            if _STEP_CHECKPOINT.match(name)
        ]
        named_step = _step_of(candidates[0]) if candidates else None
        found.sort(key=_step_of, reverse=True)
        for path in found:
            same = candidates and os.path.abspath(path) == os.path.abspath(candidates[0])
            # never go forward past what the pointer names (a save it does not count yet)
            if not same and (named_step is None or named_step < 0 or _step_of(path) < named_step):
                candidates.append(path)
    if not candidates:
        return None
    bad = []
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            for i, (bad_path, why) in enumerate(bad):
                then = (
                    f'resuming from the previous good checkpoint {path}'
                    if i == len(bad) - 1
                    else 'trying an older one'
                )
                warn(f'resume: {bad_path} is unusable ({why}); {then}')
            return path
        bad.append((path, problem))
    raise UserInputError(
        f'no checkpoint in {work_dir} can be resumed from: '
        + '; '.join(f'{p} ({why})' for p, why in bad)
        + '; start over in a new work dir, or give a checkpoint with --resume PATH'
    )


#: Bytes hashed at each end of a teacher checkpoint for its fingerprint.
FINGERPRINT_BYTES = 1 << 20


def file_fingerprint(path: str) -> Optional[dict]:
    """``{'size', 'sha256_ends'}`` of a file (a folder: of its files), None when missing.

    The hash covers the first and the last MiB of each file with its size: cheap on
    a multi-GB checkpoint, and it changes when the file is replaced by another
    (retrained, truncated, re-downloaded as another version); copying or moving the
    file keeps it.
    """
    import hashlib

    if os.path.isdir(path):
        files = sorted(
            os.path.relpath(os.path.join(root, name), path)
            for root, _, names in os.walk(path)
            for name in names
        )
    elif os.path.isfile(path):
        files = ['']
    else:
        return None
    digest, size = hashlib.sha256(), 0
    for rel in files:
        full = os.path.join(path, rel) if rel else path
        length = os.path.getsize(full)
        size += length
        digest.update(f'{rel}\0{length}\0'.encode())
        with open(full, 'rb') as f:
            digest.update(f.read(FINGERPRINT_BYTES))
            if length > FINGERPRINT_BYTES:
                f.seek(max(FINGERPRINT_BYTES, length - FINGERPRINT_BYTES))
                digest.update(f.read())
    return dict(size=size, sha256_ends=digest.hexdigest())


def _teacher_checkpoint_paths(node, where: str = 'model') -> Dict[str, str]:
    """``{'model.teacher.checkpoint': path}`` for every checkpoint outside the student."""
    found = {}
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f'{where}.{key}'
            if where == 'model' and key == 'student':
                continue  # the student's start: resuming does not read it
            if key == 'checkpoint' and isinstance(value, str) and '://' not in value:
                found[here] = value
            else:
                found.update(_teacher_checkpoint_paths(value, here))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found.update(_teacher_checkpoint_paths(value, f'{where}.{i}'))
    return found


def teacher_fingerprints(model_cfg) -> Dict[str, dict]:
    """``{config key: {'path', 'size', 'sha256_ends'}}`` of the teachers' checkpoints.

    Every ``checkpoint`` string in the model config outside ``model.student`` (the
    teacher's, an assistant's), local files or folders; hub references are skipped.
    """
    out = {}
    for key, path in _teacher_checkpoint_paths(model_cfg).items():
        fingerprint = file_fingerprint(path)
        if fingerprint is not None:
            out[key] = dict(path=path, **fingerprint)
    return out


def check_teachers_unchanged(checkpoint: str, model_cfg) -> None:
    """Stop a resume whose teacher checkpoint is missing or not the one trained with.

    The student checkpoint's ``meta['teacher_checkpoints']`` (written by
    ``AtomicCheckpointHook``) is compared with the files the config names now.

    Raises:
        UserInputError: a teacher file is missing or its fingerprint changed; the
            message names the file and the config key.
    """
    from mmdistilldepth.utils.cli import UserInputError

    allow_mmengine_checkpoints()
    try:
        obj = torch.load(checkpoint, map_location='cpu', weights_only=True, mmap=True)
    except (RuntimeError, ValueError, OSError, pickle.UnpicklingError):
        obj = torch.load(checkpoint, map_location='cpu', weights_only=True)
    meta = obj.get('meta') if isinstance(obj, Mapping) else None
    stored = (meta or {}).get('teacher_checkpoints') or {}
    now = _teacher_checkpoint_paths(model_cfg)
    for key, then in stored.items():
        path = now.get(key, then.get('path'))
        fingerprint = file_fingerprint(path)
        if fingerprint is None:
            raise UserInputError(
                f'teacher checkpoint {path} ({key}) does not exist, but {checkpoint} was '
                f'trained with it ({then.get("path")}, {then.get("size")} bytes): put it '
                f'back, or point {key} at it with --cfg-options {key}=PATH'
            )
        if fingerprint != {k: then.get(k) for k in fingerprint}:
            raise UserInputError(
                f'teacher checkpoint {path} ({key}) changed since {checkpoint} was saved '
                f'({then.get("size")} -> {fingerprint["size"]} bytes'
                f'{", other content" if fingerprint["size"] == then.get("size") else ""}): '
                'resuming would mix two teachers in one run; restore the file, or start a '
                f'new run from the student weights with load_from={checkpoint}'
            )


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
