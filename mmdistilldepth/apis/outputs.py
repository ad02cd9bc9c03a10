"""Turn a prediction into files: colour PNG, 16-bit PNG, raw ``.npy``, point cloud.

A model predicts relative disparity or, with a metric head (``model.pred_space ==
'depth'``, e.g. ``DepthAnythingV2(max_depth=20)``), depth in metres.

Relative disparity from Depth Anything V2 is affine-invariant: its scale and shift
are unknown, so every product of it first normalizes it per image to [0, 1] (0 = the
farthest pixel, 1 = the nearest), and the point cloud assumes a depth range. Metric
depth is written as it is: the colour map shows its inverse (near = bright, as for
disparity), the 16-bit PNG holds ``depth * 256`` (KITTI's convention, up to 256 m),
the ``.npy`` the metres, and the point cloud needs only the field of view.
"""

from __future__ import annotations

import math
from typing import Dict, Sequence, Tuple, Union

import numpy as np

from mmdistilldepth.visualization.colormap import colorize, to_bgr

#: Assumptions of :func:`disparity_to_points` (documented in docs/models.md).
DEFAULT_FOV_DEG = 60.0
DEFAULT_DEPTH_RANGE = (1.0, 10.0)


def normalize_disparity(disparity: np.ndarray) -> np.ndarray:
    """Min-max normalize to float32 [0, 1]; a constant map becomes all zeros."""
    disparity = np.asarray(disparity, dtype=np.float64)
    low, high = float(disparity.min()), float(disparity.max())
    if high - low <= 0:
        return np.zeros(disparity.shape, np.float32)
    return ((disparity - low) / (high - low)).astype(np.float32)


def colorize_disparity(disparity: np.ndarray, colormap: Union[str, int] = 'inferno') -> np.ndarray:
    """A perceptual colour image of the disparity (near = bright), BGR uint8 (H, W, 3).

    :func:`mmdistilldepth.visualization.colorize` over the image's own min-max range,
    in OpenCV's channel order, ready for ``cv2.imwrite``.
    """
    disparity = np.asarray(disparity, dtype=np.float64)
    return to_bgr(
        colorize(
            disparity,
            value_range=(float(disparity.min()), float(disparity.max())),
            colormap=colormap,
        )
    )


def disparity_to_uint16(disparity: np.ndarray) -> np.ndarray:
    """Normalized disparity as uint16 (0 = farthest, 65535 = nearest)."""
    return np.round(normalize_disparity(disparity) * 65535).astype(np.uint16)


def disparity_to_points(
    disparity: np.ndarray,
    fov_deg: float = DEFAULT_FOV_DEG,
    depth_range: Tuple[float, float] = DEFAULT_DEPTH_RANGE,
) -> np.ndarray:
    """Unproject a disparity map into camera-frame points under stated assumptions.

    The unknown affine ambiguity is fixed by assuming that the normalized disparity
    ``d`` in [0, 1] spans inverse depth linearly from ``1/far`` to ``1/near``:
    ``depth = 1 / (1/far + d * (1/near - 1/far))``. The camera is a pinhole with
    horizontal field of view ``fov_deg``, square pixels and the principal point at
    the image centre; x right, y down, z forward (OpenCV convention).

    Args:
        disparity (ndarray): (H, W) relative disparity.
        fov_deg (float): assumed horizontal field of view in degrees.
        depth_range (tuple): assumed (near, far) depth of the scene.

    Returns:
        ndarray: float32 (H*W, 3) points in row-major pixel order.
    """
    near, far = depth_range
    if not 0 < near < far:
        raise ValueError(f'depth_range must satisfy 0 < near < far, got {depth_range}')
    inv_depth = 1.0 / far + normalize_disparity(disparity) * (1.0 / near - 1.0 / far)
    return depth_to_points(1.0 / inv_depth, fov_deg)


def depth_to_points(depth: np.ndarray, fov_deg: float = DEFAULT_FOV_DEG) -> np.ndarray:
    """Unproject a depth map (metres, or any unit) into camera-frame points.

    A pinhole with horizontal field of view ``fov_deg``, square pixels and the
    principal point at the image centre; x right, y down, z forward (OpenCV).

    Args:
        depth (ndarray): (H, W) depth along the optical axis.
        fov_deg (float): assumed horizontal field of view in degrees.

    Returns:
        ndarray: float32 (H*W, 3) points in row-major pixel order.
    """
    depth = np.asarray(depth, dtype=np.float64)
    height, width = depth.shape
    focal = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    x = (u - width / 2.0) / focal * depth
    y = (v - height / 2.0) / focal * depth
    return np.stack([x, y, depth], axis=-1).reshape(-1, 3).astype(np.float32)


def write_ply(path: str, points: np.ndarray, colors: np.ndarray) -> None:
    """Write a binary little-endian PLY with float xyz and uchar RGB per vertex.

    Args:
        path (str): output file.
        points (ndarray): (N, 3) float.
        colors (ndarray): (N, 3) uint8 RGB.
    """
    vertex = np.empty(
        len(points),
        dtype=[
            ('x', '<f4'),
            ('y', '<f4'),
            ('z', '<f4'),
            ('red', 'u1'),
            ('green', 'u1'),
            ('blue', 'u1'),
        ],
    )
    for i, axis in enumerate('xyz'):
        vertex[axis] = points[:, i]
    for i, channel in enumerate(('red', 'green', 'blue')):
        vertex[channel] = colors[:, i]
    header = (
        'ply\nformat binary_little_endian 1.0\n'
        f'element vertex {len(vertex)}\n'
        'property float x\nproperty float y\nproperty float z\n'
        'property uchar red\nproperty uchar green\nproperty uchar blue\n'
        'end_header\n'
    )
    with open(path, 'wb') as f:
        f.write(header.encode('ascii'))
        f.write(vertex.tobytes())


#: The files :func:`save_outputs` can write, by product name, as suffixes of a stem.
PRODUCT_SUFFIXES = {
    'color': '_color.png',
    'png16': '_disparity16.png',
    'npy': '_disparity.npy',
    'ply': '.ply',
}
#: The same for a metric model's depth (``pred_space='depth'``).
DEPTH_PRODUCT_SUFFIXES = {
    'color': '_color.png',
    'png16': '_depth16.png',
    'npy': '_depth.npy',
    'ply': '.ply',
}
PRED_SPACES = ('disparity', 'depth')


def depth_to_disparity(depth: np.ndarray) -> np.ndarray:
    """``1 / depth`` where the depth is positive, else 0 (as far as it gets)."""
    depth = np.asarray(depth, dtype=np.float64)
    positive = depth > 0
    return np.where(positive, 1.0 / np.where(positive, depth, 1.0), 0.0)


def depth_to_uint16(depth: np.ndarray) -> np.ndarray:
    """Metric depth as uint16 ``round(depth * 256)`` (KITTI's depth PNGs; 0 = none)."""
    depth = np.clip(np.nan_to_num(np.asarray(depth, dtype=np.float64)), 0, 65535 / 256)
    return np.round(depth * 256).astype(np.uint16)


def save_outputs(
    rgb: np.ndarray,
    disparity: np.ndarray,
    stem: str,
    products: Sequence[str] = tuple(PRODUCT_SUFFIXES),
    fov_deg: float = DEFAULT_FOV_DEG,
    depth_range: Tuple[float, float] = DEFAULT_DEPTH_RANGE,
    pred_space: str = 'disparity',
) -> Dict[str, str]:
    """Write the products of one prediction (``tools/infer.py`` and the demo).

    Args:
        rgb (ndarray): the image, RGB uint8 (H, W, 3).
        disparity (ndarray): the prediction (H, W): relative disparity, or metric
            depth in metres when ``pred_space='depth'``.
        stem (str): path prefix: ``out/photo`` gives ``out/photo_color.png`` etc.
        products (sequence of str): any of ``color`` (colour PNG), ``png16``
            (16-bit PNG: the normalized disparity, or ``depth * 256``), ``npy``
            (raw float32) and ``ply`` (point cloud, assuming ``fov_deg``, and for
            disparity ``depth_range``).
        fov_deg (float): assumed horizontal field of view of the ``.ply`` (degrees).
        depth_range (tuple): assumed (near, far) depth of a disparity's ``.ply``.
        pred_space (str): ``'disparity'`` or ``'depth'`` (a metric model's
            ``model.pred_space``); it also picks the file names
            (:data:`PRODUCT_SUFFIXES`, :data:`DEPTH_PRODUCT_SUFFIXES`).

    Returns:
        dict: product name -> the path written.
    """
    import cv2

    if pred_space not in PRED_SPACES:
        raise ValueError(f'unknown pred_space {pred_space!r}; choose one of {PRED_SPACES}')
    unknown = set(products) - set(PRODUCT_SUFFIXES)
    if unknown:
        raise ValueError(
            f'unknown products {sorted(unknown)}; choose from {list(PRODUCT_SUFFIXES)}'
        )
    metric = pred_space == 'depth'
    suffixes = DEPTH_PRODUCT_SUFFIXES if metric else PRODUCT_SUFFIXES
    paths = {name: stem + suffixes[name] for name in products}
    shown = depth_to_disparity(disparity) if metric else disparity
    if 'color' in paths:
        cv2.imwrite(paths['color'], colorize_disparity(shown))
    if 'png16' in paths:
        png16 = depth_to_uint16(disparity) if metric else disparity_to_uint16(disparity)
        cv2.imwrite(paths['png16'], png16)
    if 'npy' in paths:
        np.save(paths['npy'], disparity.astype(np.float32))
    if 'ply' in paths:
        if metric:
            points = depth_to_points(disparity, fov_deg)
        else:
            points = disparity_to_points(disparity, fov_deg, tuple(depth_range))
        write_ply(paths['ply'], points, rgb.reshape(-1, 3))
    return paths
