"""Decode images and depth ground truth from the files a sample dict names."""

from __future__ import annotations

import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from mmdistilldepth.registry import TRANSFORMS
from mmdistilldepth.utils.image_io import UnreadableFileError, read_png_depth, read_rgb

DEPTH_FORMATS = ('png', 'raw_float32', 'npy')
#: Each benchmark's depth files, so a pipeline can say ``format='nyu'``.
BENCHMARK_DEPTH_FORMATS = {
    'nyu': dict(format='png', scale=1000.0),
    'scannet': dict(format='png', scale=1000.0),
    'kitti': dict(format='png', scale=256.0),
    'eth3d': dict(format='raw_float32'),
    'diode': dict(format='npy', with_mask=True),
}


def read_raw_float32_depth(path: str, shape: Sequence[int]) -> np.ndarray:
    """Read a headerless float32 depth map (ETH3D ``ground_truth_depth``).

    ETH3D stores row-major little-endian float32 values without a header, +inf where
    there is no depth; the file name keeps the image's ``.JPG`` name.

    Args:
        path (str): the depth file.
        shape (Sequence[int]): (H, W) of the matching image.

    Returns:
        ndarray: float32 (H, W) metres, 0 where the file says inf (missing).
    """
    if not osp.isfile(path):
        raise UnreadableFileError(path, 'no such depth file')
    height, width = int(shape[0]), int(shape[1])
    depth = np.fromfile(path, dtype='<f4')
    if depth.size != height * width:
        raise UnreadableFileError(
            path,
            f'holds {depth.size} float32 values, but the image is {height}x{width} '
            f'(= {height * width}); the file is truncated or belongs to another image',
        )
    depth = depth.reshape(height, width).astype(np.float32)
    depth[np.isinf(depth)] = 0.0
    return depth


def read_npy_depth(path: str) -> np.ndarray:
    """Read a ``.npy`` depth map (DIODE, (H, W, 1) float32) as float32 (H, W)."""
    if not osp.isfile(path):
        raise UnreadableFileError(path, 'no such depth file')
    try:
        depth = np.load(path)
    except ValueError as exc:
        raise UnreadableFileError(path, f'not a readable .npy array ({exc})') from None
    depth = np.squeeze(depth)
    if depth.ndim != 2:
        raise UnreadableFileError(
            path, f'expected a single-channel depth map, got shape {depth.shape}'
        )
    return depth.astype(np.float32)


@TRANSFORMS.register_module()
class LoadRGBImage(BaseTransform):
    """Decode ``results['img_path']`` to ``img``: RGB uint8 (H, W, 3).

    Adds ``ori_shape`` and ``img_shape`` = (H, W). When ``img`` is already in the
    results (a dataset that renders its images), it is kept and only the shapes are
    set.

    Raises:
        UnreadableFileError: missing, empty or undecodable file.
    """

    def transform(self, results: dict) -> dict:
        if results.get('img') is None:
            results['img'] = read_rgb(results['img_path'])
        shape = tuple(results['img'].shape[:2])
        results['ori_shape'] = shape
        results['img_shape'] = shape
        return results


@TRANSFORMS.register_module()
class LoadDepthAnnotation(BaseTransform):
    """Decode ``results['depth_path']`` to ``gt_depth``: float32 (H, W) metres, 0 = missing.

    Args:
        format (str): a benchmark name (``'nyu'``, ``'kitti'``, ``'eth3d'``,
            ``'diode'``, ``'scannet'``: that benchmark's format, scale and mask), or
            ``'png'``: single-channel uint16 PNG divided by ``scale``
            (NYUv2 and ScanNet: millimetres, scale 1000; KITTI: scale 256).
            ``'raw_float32'``: headerless float32 (ETH3D), +inf -> 0; its (H, W) is
            ``shape`` or, when None, the image's ``ori_shape`` (load the image
            first). ``'npy'``: a numpy array (DIODE).
        scale (float, optional): divisor of the PNG values (``'png'`` only).
        shape (Sequence[int], optional): (H, W) of raw float32 files.
        with_mask (bool, optional): also load ``results['mask_path']`` (a ``.npy``
            array, DIODE's ``*_depth_mask.npy``) into ``gt_valid_mask``, bool (H, W).
            Default: True for ``'diode'``, else False.
    """

    def __init__(
        self,
        format: str = 'png',
        scale: Optional[float] = None,
        shape: Optional[Sequence[int]] = None,
        with_mask: Optional[bool] = None,
    ) -> None:
        preset = BENCHMARK_DEPTH_FORMATS.get(format, dict(format=format))
        self.format = preset['format']
        if self.format not in DEPTH_FORMATS:
            raise ValueError(
                f'unknown depth format {format!r}; choose one of '
                f'{DEPTH_FORMATS + tuple(BENCHMARK_DEPTH_FORMATS)}'
            )
        scale = preset.get('scale') if scale is None else scale
        if self.format == 'png' and scale is None:
            raise ValueError(
                "LoadDepthAnnotation(format='png') needs scale (1000 for "
                'millimetre PNGs, 256 for KITTI)'
            )
        self.scale = None if scale is None else float(scale)
        self.shape = tuple(shape) if shape is not None else None
        self.with_mask = preset.get('with_mask', False) if with_mask is None else with_mask

    def _read(self, results: dict) -> np.ndarray:
        path = results['depth_path']
        if self.format == 'png':
            return read_png_depth(path, self.scale)
        if self.format == 'npy':
            return read_npy_depth(path)
        shape = self.shape or results.get('ori_shape')
        if shape is None:
            raise KeyError(
                "LoadDepthAnnotation(format='raw_float32') needs the depth's "
                '(H, W): put LoadRGBImage before it, or give shape=(H, W)'
            )
        return read_raw_float32_depth(path, shape)

    def transform(self, results: dict) -> dict:
        depth = self._read(results)
        results['gt_depth'] = depth
        if self.with_mask:
            mask_path = results['mask_path']
            if not osp.isfile(mask_path):
                raise UnreadableFileError(mask_path, 'no such depth-mask file')
            mask = np.squeeze(np.load(mask_path)).astype(bool)
            if mask.shape != depth.shape:
                raise UnreadableFileError(
                    mask_path, f'mask shape {mask.shape} differs from the depth shape {depth.shape}'
                )
            results['gt_valid_mask'] = mask
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(format={self.format!r}, scale={self.scale}, '
            f'shape={self.shape}, with_mask={self.with_mask})'
        )
