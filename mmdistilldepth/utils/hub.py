"""Hugging Face hub references for checkpoints, through ``huggingface_hub``'s cache.

The rule:

* ``hf://ORG/NAME[/PATH][@REVISION]`` is a hub reference wherever a checkpoint path
  is accepted (config ``checkpoint`` fields, ``init_model``, ``tools/*.py``);
* a bare ``ORG/NAME[/PATH]`` is a hub id too, but only as the first argument of
  :func:`~mmdistilldepth.apis.init_model` (``init_model('depth-anything/Depth-Anything-V2-Small-hf')``)
  when no such local file or folder exists. Config fields keep plain strings as
  local paths, so a mistyped path is never sent to the hub.

What a reference resolves to:

* ``PATH`` naming a file (``hf://xingyang1/Distill-Any-Depth/large/model.safetensors``):
  that file;
* a transformers repository or subfolder (``config.json`` there, e.g. the ``-hf``
  repositories): the folder, with ``config.json`` and its weights;
* a known original-file repository (:data:`KNOWN_FILES`, e.g.
  ``hf://depth-anything/Depth-Anything-V2-Small``): its checkpoint file.

Downloads go through ``hf_hub_download`` into the hub cache (``HF_HUB_CACHE``,
``HF_HOME``); with ``HF_HUB_OFFLINE=1`` only the cache is read. Needs the ``hf``
extra (``pip install "mmdistilldepth[hf]"``).
"""

from __future__ import annotations

import json
import os
import os.path as osp
import re
from typing import NamedTuple, Optional

from .extras import require

HF_SCHEME = 'hf://'
_ID = r'[A-Za-z0-9][A-Za-z0-9._-]*'
_REFERENCE = re.compile(rf'^(?P<repo>{_ID}/{_ID})(?:/(?P<path>[^@]+?))?/?(?:@(?P<rev>[^/]+))?$')
#: Checkpoint extensions: a reference whose last part ends so names a file.
FILE_EXTENSIONS = ('.pth', '.pt', '.bin', '.ckpt', '.safetensors', '.json')

#: Original-file repositories (no config.json): repository[/subfolder] -> file.
KNOWN_FILES = {
    'depth-anything/Depth-Anything-V2-Small': 'depth_anything_v2_vits.pth',
    'depth-anything/Depth-Anything-V2-Base': 'depth_anything_v2_vitb.pth',
    'depth-anything/Depth-Anything-V2-Large': 'depth_anything_v2_vitl.pth',
    'xingyang1/Distill-Any-Depth/small': 'small/model.safetensors',
    'xingyang1/Distill-Any-Depth/base': 'base/model.safetensors',
    'xingyang1/Distill-Any-Depth/large': 'large/model.safetensors',
    'xingyang1/Distill-Any-Depth/Distill-Any-Depth-Dav2-Teacher-Large-2w-iter': 'Distill-Any-Depth-Dav2-Teacher-Large-2w-iter/model.safetensors',
}
#: transformers weight files, in the order they are tried
HF_WEIGHT_FILES = ('model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin')


class HubReference(NamedTuple):
    repo_id: str
    path: str  # '' for the repository root
    revision: Optional[str]

    def __str__(self) -> str:
        path = f'/{self.path}' if self.path else ''
        rev = f'@{self.revision}' if self.revision else ''
        return f'{HF_SCHEME}{self.repo_id}{path}{rev}'


class HubError(FileNotFoundError):
    """A hub reference that cannot be resolved (not in the cache offline, no such file)."""


def parse_reference(spec: str, bare: bool = False) -> Optional[HubReference]:
    """The hub reference in ``spec``, or None when it is a local path.

    Args:
        spec (str): ``hf://ORG/NAME[/PATH][@REV]`` (or a bare ``ORG/NAME[/PATH]`` with
            ``bare=True``).
        bare (bool): accept a bare id when no local file or folder of that name exists.

    Raises:
        HubError: an ``hf://`` string that is not ``ORG/NAME[/PATH][@REV]``.
    """
    if not isinstance(spec, str):
        return None
    if spec.startswith(HF_SCHEME):
        body = spec[len(HF_SCHEME) :]
    elif (
        bare
        and not osp.exists(spec)
        and not spec.startswith(('.', '/', '~'))
        and not spec.endswith('.py')
    ):
        body = spec
    else:
        return None
    match = _REFERENCE.match(body)
    if match is None:
        if not spec.startswith(HF_SCHEME):
            return None
        raise HubError(
            f'{spec!r} is not a hub reference: write hf://ORG/NAME[/PATH][@REVISION], '
            'e.g. hf://depth-anything/Depth-Anything-V2-Small-hf'
        )
    return HubReference(match['repo'], (match['path'] or '').strip('/'), match['rev'])


def _download(ref: HubReference, filename: str) -> Optional[str]:
    """``hf_hub_download`` of one file, or None when the repository has no such file."""
    hub = require('huggingface_hub', f'the hub reference {ref}')
    try:
        from huggingface_hub.errors import EntryNotFoundError
    except ImportError:  # huggingface_hub < 0.24
        from huggingface_hub.utils import EntryNotFoundError
    try:
        return hub.hf_hub_download(ref.repo_id, filename, revision=ref.revision)
    except EntryNotFoundError:  # also LocalEntryNotFoundError: offline and not cached
        return None


def _offline() -> bool:
    return os.environ.get('HF_HUB_OFFLINE', '').lower() in ('1', 'on', 'yes', 'true')


def resolve_reference(ref: HubReference) -> str:
    """Download (or find in the cache) what ``ref`` names; returns a local path.

    Returns:
        str: a checkpoint file, or a transformers folder (``config.json`` and weights).

    Raises:
        HubError: the message says what was looked for and, offline, how to fill the
            cache.
    """
    where = 'in the hub cache (HF_HUB_OFFLINE is set)' if _offline() else 'on the hub'
    fill = (
        ' Fill the cache once on a machine with access: '
        f'`huggingface-cli download {ref.repo_id}` (or give a local path).'
        if _offline()
        else ''
    )
    if ref.path.endswith(FILE_EXTENSIONS):
        path = _download(ref, ref.path)
        if path is None:
            raise HubError(f'{ref}: no file {ref.path!r} {where}.{fill}')
        return path
    prefix = f'{ref.path}/' if ref.path else ''
    config = _download(ref, prefix + 'config.json')
    if config is not None:  # a transformers folder
        for name in HF_WEIGHT_FILES:
            weights = _download(ref, prefix + name)
            if weights is None:
                continue
            if name.endswith('.index.json'):
                with open(weights) as f:
                    for shard in sorted(set(json.load(f)['weight_map'].values())):
                        if _download(ref, prefix + shard) is None:
                            raise HubError(f'{ref}: shard {shard} missing {where}.{fill}')
            return osp.dirname(config)
        raise HubError(f'{ref}: config.json but none of {list(HF_WEIGHT_FILES)} {where}.{fill}')
    key = f'{ref.repo_id}/{ref.path}' if ref.path else ref.repo_id
    if key in KNOWN_FILES:
        path = _download(ref, KNOWN_FILES[key])
        if path is None:
            raise HubError(f'{ref}: no file {KNOWN_FILES[key]!r} {where}.{fill}')
        return path
    known = sorted(k for k in KNOWN_FILES if k.startswith(ref.repo_id + '/'))
    choices = (
        f' This repository holds one model per folder: use one of {[HF_SCHEME + k for k in known]}.'
        if known
        else ''
    )
    raise HubError(
        f'{ref}: no config.json {where} and not a known checkpoint repository.'
        f'{choices} Name the file: {HF_SCHEME}{ref.repo_id}/FILE.safetensors.{fill}'
    )


def resolve_checkpoint(spec: str, bare: bool = False) -> str:
    """``spec`` itself when it is a local path, else the local path of its hub reference."""
    ref = parse_reference(spec, bare=bare)
    return spec if ref is None else resolve_reference(ref)
