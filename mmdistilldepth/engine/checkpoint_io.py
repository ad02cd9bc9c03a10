"""Checkpoints on disk: written atomically, checked before they are unpickled.

- :func:`atomic_write_bytes` writes to a temporary file beside the target, syncs
  it, then renames it over the target (``os.replace``, atomic on POSIX and
  Windows), so a process killed while saving leaves either the old file or the
  new one, never half of one. :class:`AtomicLocalBackend` (``backend='atomic_local'``)
  is MMEngine's local file backend with that write; ``AtomicCheckpointHook`` uses it.
- :func:`check_checkpoint_safe` tells, before MMEngine loads a checkpoint for
  ``--resume`` or ``load_from``, whether ``torch.load(weights_only=True)`` will
  accept it, and says in one line what to do when it will not. Both first add
  MMEngine's own classes to torch's allow-list (importing the package does not).
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import pickle
import re
from typing import List, Optional, Union

import torch
from mmengine.fileio import LocalBackend, register_backend

from mmdistilldepth.utils.cli import UserInputError

#: Suffix of the temporary file a save writes before the rename (plus the pid).
TMP_SUFFIX = '.tmp-'
_TMP_NAME = re.compile(r'.+\.tmp-\d+$')


def atomic_write_bytes(path: str, data: Union[bytes, memoryview]) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written.

    Args:
        path (str): the target file; its folder is created when missing.
        data (bytes): the content.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f'{path}{TMP_SUFFIX}{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def atomic_write_text(path: str, text: str, encoding: str = 'utf-8') -> None:
    """:func:`atomic_write_bytes` for text."""
    atomic_write_bytes(path, text.encode(encoding))


def _fsync_folder(folder: str) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_temporary_files(folder: str) -> List[str]:
    """Leftovers of saves that were killed before their rename (``*.tmp-<pid>``)."""
    if not osp.isdir(folder):
        return []
    return sorted(osp.join(folder, name) for name in os.listdir(folder)
                  if _TMP_NAME.match(name) and osp.isfile(osp.join(folder, name)))


class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend whose writes are atomic (:func:`atomic_write_bytes`).

    Select it with ``backend_args=dict(backend='atomic_local')``.
    """

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write_text(str(filepath), obj, encoding)


register_backend('atomic_local', AtomicLocalBackend, force=True)

CONVERT_HINT = ('python tools/model_converters/convert_checkpoint.py {path} OUT.pth --to ours '
                '--unsafe-allow-pickle (keeps the student weights; start from them with '
                'load_from=OUT.pth)')


def _allow_mmengine_checkpoints() -> None:
    from mmdistilldepth.models.checkpoint_loading import allow_mmengine_checkpoints
    allow_mmengine_checkpoints()


def unsafe_globals(path: str) -> List[str]:
    """The objects in a torch checkpoint that ``weights_only=True`` would refuse.

    Reads the pickle's opcodes only (no tensor data, nothing is run). The allow-list
    is torch's plus what :mod:`mmdistilldepth` adds for MMEngine's own checkpoints.

    Raises:
        UserInputError: the file is not a readable torch checkpoint.
    """
    _allow_mmengine_checkpoints()
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
            'or another kind of file: give another checkpoint') from None
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
    # MMEngine's resume / load_from read the file next with weights_only=True.
    _allow_mmengine_checkpoints()
    if not path:
        return
    if not osp.isfile(path):
        raise UserInputError(f'{what} {path} does not exist')
    if path.endswith('.safetensors'):
        raise UserInputError(
            f'{what} {path} is a safetensors file, but MMEngine reads torch checkpoints '
            f'here: convert it with python tools/model_converters/convert_checkpoint.py '
            f"{path} OUT.pth --to ours, or give it as the model's own checkpoint "
            '(model.student.checkpoint=PATH)')
    unsafe = unsafe_globals(path)
    if unsafe:
        raise UserInputError(
            f'{what} {path} holds objects that only arbitrary unpickling can load '
            f'({", ".join(unsafe[:5])}{" ..." if len(unsafe) > 5 else ""}), which could '
            'run code from the file, so it is refused. Only if you trust the file, '
            f'convert it once: {CONVERT_HINT.format(path=path)}')


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``work_dir/last_checkpoint`` points to, as ``--resume`` finds it.

    Returns:
        str or None: None when there is no pointer (a fresh run).

    Raises:
        UserInputError: the pointer is empty or names a missing file.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer, encoding='utf-8') as f:
        path = f.read().strip()
    if not path or not osp.isfile(path):
        raise UserInputError(
            f'{pointer} points to {path or "nothing"!r}, which does not exist; resume from '
            'a given checkpoint with --resume PATH (or delete the pointer to start over)')
    return path
