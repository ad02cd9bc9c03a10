"""The official test-time preprocessing of Depth Anything V2 and MiDaS, in one place.

``ResizeForDepthModel`` (datasets/transforms) and :func:`inference_depth` both call
these functions, so training-time evaluation and inference resize identically.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from mmdistilldepth.utils.constants import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401 (re-exported)


def dav2_input_size(
    height: int, width: int, size: int = 518, multiple: int = 14, max_size: Optional[int] = None
) -> Tuple[int, int]:
    """The network input size of the official ``Resize`` (lower bound, keep aspect).

    ``scale = max(size / h, size / w)`` for both sides; each side becomes
    ``round(side * scale / multiple) * multiple`` (numpy round, half to even) and,
    if that is below ``size``, ``ceil(side * scale / multiple) * multiple``.

    With ``max_size``, an image so elongated that its long side would exceed it (a
    20000x200 panorama would become 51800x518) is instead scaled to a long side of
    ``max_size`` (rounded down to the multiple); its short side then falls below
    ``size``. The official code has no such cap (``None``).

    Args:
        height (int): image height.
        width (int): image width.
        size (int): the lower bound of both sides (518 in the official code).
        multiple (int): the sides are multiples of it (the patch size, 14).
        max_size (int, optional): the upper bound of the long side.

    Returns:
        tuple: (new_height, new_width), e.g. (518, 686) for 480x640.
    """
    scale = max(size / height, size / width)
    lower = size
    if max_size is not None and scale * max(height, width) > max_size:
        scale = max_size / max(height, width)
        lower = multiple  # the short side may be anything down to one patch

    def fit(side: float) -> int:
        value = int(np.round(side / multiple) * multiple)
        if value < lower:
            value = int(math.ceil(side / multiple) * multiple)
        if max_size is not None and value > max_size:
            value = max_size // multiple * multiple
        return max(value, multiple)

    return fit(scale * height), fit(scale * width)


def prepare_dav2_input(
    rgb: np.ndarray,
    size: int = 518,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    max_size: Optional[int] = None,
) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> the official float32 network input (1, 3, h, w).

    ``/255`` in float64, cv2 ``INTER_CUBIC`` resize to :func:`dav2_input_size` on the
    float64 image, ImageNet normalization in float64, CHW, float32.

    Args:
        rgb (ndarray): RGB image, uint8 (H, W, 3).
        size (int): the lower bound of the network input sides.
        mean (sequence of float): per-channel mean subtracted (RGB, in [0, 1] units).
        std (sequence of float): per-channel standard deviation divided by.
        max_size (int, optional): the upper bound of the long side
            (see :func:`dav2_input_size`).

    Returns:
        ndarray: float32 (1, 3, h, w), h and w multiples of 14.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected an RGB image (H, W, 3), got shape {rgb.shape}')
    image = rgb / 255.0
    new_h, new_w = dav2_input_size(image.shape[0], image.shape[1], size, max_size=max_size)
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
    image = (image - np.asarray(mean)) / np.asarray(std)
    return np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32)[None]


def prepare_midas_input(
    rgb: np.ndarray,
    size: Tuple[int, int],
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.5, 0.5, 0.5),
) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> MiDaS's float32 network input (1, 3, h, w).

    As MiDaS's ``utils.read_image`` + transform: ``/255`` in float64, cv2
    ``INTER_CUBIC`` to ``size`` on the float64 image, ``(x - 0.5) / 0.5`` in float64,
    CHW, float32. The size comes from the estimator (see
    ``mmdistilldepth.models.estimators.midas.midas_input_size``).

    Args:
        rgb (ndarray): RGB image, uint8 (H, W, 3).
        size (tuple): the network input (h, w).
        mean (sequence of float): per-channel mean subtracted (in [0, 1] units).
        std (sequence of float): per-channel standard deviation divided by.

    Returns:
        ndarray: float32 (1, 3, h, w).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected an RGB image (H, W, 3), got shape {rgb.shape}')
    image = rgb / 255.0
    new_h, new_w = int(size[0]), int(size[1])
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
    image = (image - np.asarray(mean)) / np.asarray(std)
    return np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32)[None]
