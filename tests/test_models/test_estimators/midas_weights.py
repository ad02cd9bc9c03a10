"""Rebuild the MiDaS fixture weights from ``keys.json`` by the fixtures' rule.

README section 4 'Weight rule': per key i (official state_dict order)
``ones`` / ``zeros`` for norm weights / biases, ``const`` for the last bias, and
``normal``: ``default_rng(i).standard_normal(shape, float32) * float32(std)`` with
std = 1/sqrt(fan_in) (ndim >= 2) or 0.02 (ndim <= 1). ``constructor`` buffers are
left out: the file is written *without* the structural buffers, as the issue asks,
so the loader must rebuild them.
"""

from __future__ import annotations

import json
import math
import os.path as osp
from collections import OrderedDict
from typing import Dict, List

import numpy as np
import torch


def read_keys(folder: str) -> List[dict]:
    with open(osp.join(folder, 'keys.json')) as f:
        return json.load(f)


def rule_tensor(entry: dict) -> np.ndarray:
    """The tensor of one keys.json entry (not for ``constructor`` entries)."""
    shape = tuple(entry['shape'])
    init = entry['init']
    if init == 'ones':
        return np.ones(shape, np.float32)
    if init == 'zeros':
        return np.zeros(shape, np.float32)
    if init == 'const':
        return np.full(shape, entry['value'], np.float32)
    if init != 'normal':
        raise ValueError(f'keys.json entry {entry["key"]}: unknown init {init!r}')
    if len(shape) >= 2:
        std = np.float32(1.0 / math.sqrt(int(np.prod(shape[1:]))))
    else:
        std = np.float32(0.02)
    rng = np.random.default_rng(entry['index'])
    return rng.standard_normal(shape, dtype=np.float32) * std


def build_state_dict(folder: str) -> Dict[str, torch.Tensor]:
    """The official-layout state dict (structural buffers left out)."""
    out: Dict[str, torch.Tensor] = OrderedDict()
    for entry in read_keys(folder):
        if entry['init'] == 'constructor':
            continue
        out[entry['key']] = torch.from_numpy(rule_tensor(entry))
    return out


def write_official_pt(folder: str, path: str) -> str:
    """Write :func:`build_state_dict` to ``path`` (a torch ``.pt``) once."""
    if not osp.exists(path):
        torch.save(build_state_dict(folder), path)
    return path
