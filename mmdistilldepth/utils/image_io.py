"""Reading images and depth files the same way everywhere, with clear errors."""
from __future__ import annotations

import os

import cv2
import numpy as np


class UnreadableFileError(ValueError):
    """A file that cannot be used, with the path and the reason in the message."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f'{path}: {reason}')


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3).

    Any mode is accepted (grayscale, RGBA, palette, 16-bit, CMYK); EXIF orientation
    is applied (OpenCV's ``IMREAD_COLOR`` does both).

    Raises:
        UnreadableFileError: the file is missing, empty or cannot be decoded.
    """
    if not os.path.isfile(path):
        raise UnreadableFileError(path, 'no such file')
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise UnreadableFileError(path, 'the file is empty (0 bytes)')
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise UnreadableFileError(path, 'not a decodable image (corrupt or not an image)')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_png_depth(path: str, scale: float) -> np.ndarray:
    """Read a uint16 depth PNG and divide it by ``scale`` (1000 for mm, 256 for KITTI).

    Returns:
        ndarray: float32 (H, W) in metres; 0 where the file says missing.
    """
    if not os.path.isfile(path):
        raise UnreadableFileError(path, 'no such depth file')
    depth = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise UnreadableFileError(path, 'not a decodable PNG depth map')
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise UnreadableFileError(
            path, f'expected a single-channel uint16 PNG, got dtype {depth.dtype} '
            f'and shape {depth.shape}')
    return (depth / scale).astype(np.float32)
