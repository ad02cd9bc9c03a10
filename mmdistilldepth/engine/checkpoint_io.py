"""Checkpoints on disk, written atomically.

- :func:`atomic_write_bytes` writes to a temporary file beside the target, syncs
  it, then renames it over the target (``os.replace``, atomic on POSIX and
  Windows), so a process killed while saving leaves either the old file or the
  new one, never half of one. :class:`AtomicLocalBackend` (``backend='atomic_local'``)
  is MMEngine's local file backend with that write; ``AtomicCheckpointHook`` uses it.

The loading side (:func:`check_checkpoint_safe`, :func:`unsafe_globals`,
:func:`latest_checkpoint`) lives in :mod:`mmdistilldepth.models.checkpoint_loading`,
the one home of checkpoint loading; the names are re-exported here (lazily) so that
``from mmdistilldepth.engine.checkpoint_io import check_checkpoint_safe`` keeps working.
"""

from __future__ import annotations

import contextlib
import os
import os.path as osp
import re
from typing import List, Union

from mmengine.fileio import LocalBackend, register_backend

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
        _write_and_sync(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def _write_and_sync(path: str, data: Union[bytes, memoryview]) -> None:
    """Write a file and flush it to the disk (where a full disk shows: ``OSError``)."""
    with open(path, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


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
    return sorted(
        osp.join(folder, name)
        for name in os.listdir(folder)
        if _TMP_NAME.match(name) and osp.isfile(osp.join(folder, name))
    )


class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend whose writes are atomic (:func:`atomic_write_bytes`).

    Select it with ``backend_args=dict(backend='atomic_local')``.
    """

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write_text(str(filepath), obj, encoding)


register_backend('atomic_local', AtomicLocalBackend, force=True)

#: Loading-side names that moved to :mod:`mmdistilldepth.models.checkpoint_loading`.
_MOVED_TO_LOADING = ('CONVERT_HINT', 'check_checkpoint_safe', 'latest_checkpoint', 'unsafe_globals')


def __getattr__(name: str):
    # Lazy, so that importing the engine does not import every model.
    if name in _MOVED_TO_LOADING:
        from mmdistilldepth.models import checkpoint_loading

        return getattr(checkpoint_loading, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
