"""The demo's only link to the project's inference path (one place to adapt).

Everything the page shows or offers for download comes from here, and everything
here is the code ``tools/infer.py`` runs: :func:`~mmdistilldepth.apis.inference_depth`
for the disparity, ``save_outputs`` of ``tools/infer.py`` for the four files, and the
colorizer of :mod:`mmdistilldepth.apis.outputs` for the pictures. So a map seen on
the page and the files downloaded from it are byte for byte what ``tools/infer.py``
writes for the same image, model, ``--input-size`` and ``--max-size``.
"""
from __future__ import annotations

import importlib.util
import os.path as osp
from types import ModuleType, SimpleNamespace
from typing import Dict, Optional, Tuple

import cv2
import numpy as np
import torch

from mmdistilldepth.apis import inference_depth
from mmdistilldepth.apis.outputs import (DEFAULT_DEPTH_RANGE, DEFAULT_FOV_DEG,
                                         colorize_disparity)
from mmdistilldepth.apis.preprocessing import dav2_input_size

#: ``tools/infer.py`` beside the package (the demo runs from a checkout).
INFER_TOOL = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                      'tools', 'infer.py')
#: The products of ``tools/infer.py --save``, and the file each one is written to.
PRODUCT_SUFFIXES = {'color': '_color.png', 'png16': '_disparity16.png',
                    'npy': '_disparity.npy', 'ply': '.ply'}

_infer_module: Optional[ModuleType] = None


def infer_tool() -> ModuleType:
    """``tools/infer.py`` as a module (imported once), for its ``save_outputs``."""
    global _infer_module
    if _infer_module is None:
        if not osp.isfile(INFER_TOOL):
            raise FileNotFoundError(f'{INFER_TOOL} (the demo writes its files with '
                                    'tools/infer.py; run it from a checkout of the project)')
        spec = importlib.util.spec_from_file_location('_mdd_tools_infer', INFER_TOOL)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _infer_module = module
    return _infer_module


def predict_disparity(model: torch.nn.Module, rgb: np.ndarray, input_size: int,
                      max_size: Optional[int]) -> np.ndarray:
    """Relative disparity (H, W) float32 of an RGB uint8 image, as ``tools/infer.py``."""
    return inference_depth(model, rgb, input_size, max_size)


def network_input_size(height: int, width: int, input_size: int,
                       max_size: Optional[int]) -> Tuple[int, int]:
    """The (h, w) the network sees for an image (``--max-size`` applied)."""
    return dav2_input_size(height, width, input_size, max_size=max_size)


def colorize_rgb(disparity: np.ndarray) -> np.ndarray:
    """The colour map of ``<name>_color.png`` as RGB uint8 (H, W, 3) (near = bright)."""
    return cv2.cvtColor(colorize_disparity(disparity), cv2.COLOR_BGR2RGB)


def write_products(rgb: np.ndarray, disparity: np.ndarray, stem: str,
                   fov: float = DEFAULT_FOV_DEG,
                   depth_range: Tuple[float, float] = DEFAULT_DEPTH_RANGE) -> Dict[str, str]:
    """Write the four files of ``tools/infer.py --save color png16 npy ply``.

    Args:
        rgb (ndarray): the image, RGB uint8 (H, W, 3).
        disparity (ndarray): its disparity (H, W).
        stem (str): path prefix, e.g. ``out/photo`` gives ``out/photo_color.png``.
        fov (float): assumed horizontal field of view (degrees) of the ``.ply``.
        depth_range (tuple): assumed (near, far) depth of the ``.ply``.

    Returns:
        dict: product name (``color``, ``png16``, ``npy``, ``ply``) -> file path.
    """
    args = SimpleNamespace(save=list(PRODUCT_SUFFIXES), fov=fov, depth_range=depth_range)
    infer_tool().save_outputs(rgb, disparity, stem, args)
    return {name: stem + suffix for name, suffix in PRODUCT_SUFFIXES.items()}
