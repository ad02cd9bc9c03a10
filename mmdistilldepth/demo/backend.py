"""The demo's only link to the project's inference path (one place to adapt).

Everything the page shows or offers for download comes from here, and everything
here is the code ``tools/infer.py`` runs: :func:`~mmdistilldepth.apis.inference_depth`
for the disparity, and :func:`~mmdistilldepth.apis.outputs.save_outputs` and the
colorizer of :mod:`mmdistilldepth.apis.outputs` for the four files and the pictures.
So a map seen on the page and the files downloaded from it are byte for byte what ``tools/infer.py``
writes for the same image, model, ``--input-size`` and ``--max-size``.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import cv2
import numpy as np
import torch

from mmdistilldepth.apis import inference_depth
from mmdistilldepth.apis.outputs import (
    DEFAULT_DEPTH_RANGE,
    DEFAULT_FOV_DEG,
    PRODUCT_SUFFIXES,
    colorize_disparity,
    depth_to_disparity,
    save_outputs,
)
from mmdistilldepth.apis.preprocessing import dav2_input_size


def predict_disparity(
    model: torch.nn.Module, rgb: np.ndarray, input_size: int, max_size: Optional[int]
) -> np.ndarray:
    """Relative disparity (H, W) float32 of an RGB uint8 image, as ``tools/infer.py``."""
    return inference_depth(model, rgb, input_size, max_size)


def network_input_size(
    height: int, width: int, input_size: int, max_size: Optional[int]
) -> Tuple[int, int]:
    """The (h, w) the network sees for an image (``--max-size`` applied)."""
    return dav2_input_size(height, width, input_size, max_size=max_size)


def colorize_rgb(disparity: np.ndarray, pred_space: str = 'disparity') -> np.ndarray:
    """The colour map of ``<name>_color.png`` as RGB uint8 (H, W, 3) (near = bright).

    A metric model's depth (``pred_space='depth'``) is shown by its inverse, as
    :func:`~mmdistilldepth.apis.outputs.save_outputs` writes it.
    """
    shown = depth_to_disparity(disparity) if pred_space == 'depth' else disparity
    return cv2.cvtColor(colorize_disparity(shown), cv2.COLOR_BGR2RGB)


def write_products(
    rgb: np.ndarray,
    disparity: np.ndarray,
    stem: str,
    fov: float = DEFAULT_FOV_DEG,
    depth_range: Tuple[float, float] = DEFAULT_DEPTH_RANGE,
    pred_space: str = 'disparity',
) -> Dict[str, str]:
    """Write the four files of ``tools/infer.py --save color png16 npy ply``.

    Args:
        rgb (ndarray): the image, RGB uint8 (H, W, 3).
        disparity (ndarray): its disparity (H, W), or a metric model's depth.
        stem (str): path prefix, e.g. ``out/photo`` gives ``out/photo_color.png``.
        fov (float): assumed horizontal field of view (degrees) of the ``.ply``.
        depth_range (tuple): assumed (near, far) depth of the ``.ply``.
        pred_space (str): ``'disparity'`` or ``'depth'`` (the model's ``pred_space``).

    Returns:
        dict: product name (``color``, ``png16``, ``npy``, ``ply``) -> file path.
    """
    return save_outputs(rgb, disparity, stem, tuple(PRODUCT_SUFFIXES), fov, depth_range, pred_space)
