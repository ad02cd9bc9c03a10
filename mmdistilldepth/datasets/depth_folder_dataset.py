"""Your own images, with or without depth maps: distillation, fine-tuning, evaluation.

:class:`DepthFolderDataset` reads a folder (searched recursively), a glob or a list
file of images, and, for each, an optional depth map and valid mask found beside it
(or in parallel folders, or named on the list file's line). :class:`HypersimDataset`
and :class:`VKITTI2Dataset` read the two layouts Depth Anything V2's metric training
uses (Hypersim indoor, Virtual KITTI 2 outdoor) with their own depth conventions.

A sample that cannot be used (unreadable image, missing depth file, depth of another
size than the image, no valid depth pixel) is skipped the way
:class:`UnlabeledImageDataset` skips unreadable images: named once in the log with
the reason, counted in ``num_skipped`` and replaced by a deterministic other sample.
In ``test_mode`` a sample is never replaced (that would count an image twice): it
keeps an all-invalid depth map, and the evaluator leaves it out of the averages and
counts it in ``num_invalid``.
"""

from __future__ import annotations

import glob
import os
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np

from mmdistilldepth.registry import DATASETS
from mmdistilldepth.utils.image_io import UnreadableFileError, read_png_depth, read_rgb

from .transforms.depth_augment import RandomDepthCrop  # noqa: F401  (registers it)
from .transforms.loading import read_npy_depth
from .unlabeled_image_dataset import IMAGE_EXTENSIONS, UnlabeledImageDataset

LIST_EXTENSIONS = ('.txt', '.lst', '.list')
DEPTH_EXTENSIONS = ('.png', '.npy', '.exr')
#: Default divisor per depth format: 16-bit PNG in millimetres, floats in metres.
DEFAULT_DEPTH_SCALE = {'.png': 1000.0, '.npy': 1.0, '.exr': 1.0, '.hdf5': 1.0, '.h5': 1.0}


def read_exr_depth(path: str) -> np.ndarray:
    """Read a single-channel float ``.exr`` with OpenCV, or explain how to convert it."""
    if not osp.isfile(path):
        raise UnreadableFileError(path, 'no such depth file')
    os.environ.setdefault('OPENCV_IO_ENABLE_OPENEXR', '1')
    try:
        depth = cv2.imread(path, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_UNCHANGED)
    except cv2.error:
        depth = None
    if depth is None:
        raise UnreadableFileError(
            path,
            'OpenCV cannot read this .exr (this build has no OpenEXR, or the file is '
            'damaged); convert the depth maps to float32 .npy (np.save) and use those',
        )
    if depth.ndim == 3:
        depth = depth[..., 0]
    return depth.astype(np.float32)


def read_depth_file(path: str, scale: Optional[float] = None) -> np.ndarray:
    """Any supported depth file as float32 (H, W) metres (raw values / ``scale``).

    ``.png``: single-channel 16-bit (default scale 1000, millimetres); ``.npy`` and
    ``.exr``: float (default scale 1, metres); ``.hdf5``/``.h5``: the ``'dataset'``
    array (Hypersim).
    """
    ext = osp.splitext(path)[1].lower()
    scale = DEFAULT_DEPTH_SCALE.get(ext, 1.0) if scale is None else float(scale)
    if ext == '.png':
        return read_png_depth(path, scale)
    if ext == '.npy':
        depth = read_npy_depth(path)
    elif ext == '.exr':
        depth = read_exr_depth(path)
    elif ext in ('.hdf5', '.h5'):
        depth = read_hdf5_array(path)
    else:
        raise UnreadableFileError(
            path, f'unknown depth format {ext!r}; use 16-bit .png, .npy or .exr'
        )
    return depth / scale if scale != 1.0 else depth


def read_hdf5_array(path: str, key: str = 'dataset') -> np.ndarray:
    """The float32 (H, W) array ``key`` of an HDF5 file (h5py, the tests extra)."""
    if not osp.isfile(path):
        raise UnreadableFileError(path, 'no such depth file')
    try:
        import h5py
    except ImportError:
        raise UnreadableFileError(
            path, 'reading .hdf5 depth needs h5py: pip install h5py'
        ) from None
    try:
        with h5py.File(path, 'r') as f:
            array = np.asarray(f[key], dtype=np.float32)
    except (OSError, KeyError) as exc:
        raise UnreadableFileError(path, f'not an HDF5 file with a {key!r} array ({exc})') from None
    return np.squeeze(array)


def read_mask_file(path: str) -> np.ndarray:
    """A valid mask (.png: nonzero = valid; .npy: truthy = valid) as bool (H, W)."""
    if not osp.isfile(path):
        raise UnreadableFileError(path, 'no such mask file')
    if path.lower().endswith('.npy'):
        mask = np.squeeze(np.load(path))
    else:
        mask = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise UnreadableFileError(path, 'not a readable mask image')
        if mask.ndim == 3:
            mask = mask[..., 0]
    return mask.astype(bool)


def hypersim_distance_to_depth(distance: np.ndarray, focal_1024: float = 886.81) -> np.ndarray:
    """Hypersim's distance along each camera ray -> planar depth (z), as DAv2 trains on.

    Hypersim's ``depth_meters`` HDF5 holds, per pixel, the Euclidean distance from
    the camera centre to the surface. The planar depth is that distance times
    ``f / |(x, y, f)|``, with (x, y) the pixel centre relative to the image centre and
    f the focal length in pixels: 886.81 at Hypersim's 1024x768 (scaled with the
    width for other sizes, e.g. the tests' tiny trees).

    Args:
        distance (ndarray): (H, W) distances in metres (NaN = missing).
        focal_1024 (float): the focal length at a width of 1024 px.

    Returns:
        ndarray: float32 (H, W) planar depth (NaN stays NaN).
    """
    height, width = distance.shape
    focal = focal_1024 * width / 1024.0
    x = np.arange(width, dtype=np.float32) - (width - 1) / 2.0
    y = np.arange(height, dtype=np.float32) - (height - 1) / 2.0
    norm = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2 + focal**2)
    return (distance * (focal / norm)).astype(np.float32)


@DATASETS.register_module()
class DepthFolderDataset(UnlabeledImageDataset):
    """A folder or list file of your own images, with optional depth maps and masks.

    **Where the depth is found.** For ``photos/a/img1.jpg``:

    - beside it (default): ``photos/a/img1<depth_suffix><ext>`` for the first
      ``ext`` of ``depth_exts`` that exists, e.g. ``img1_depth.png``;
    - in a parallel folder: with ``depth_dir='depths'``,
      ``depths/a/img1<depth_suffix><ext>`` (the image's path relative to
      ``data_root``, a folder);
    - on the list file's line: ``img1.jpg img1_depth.npy [img1_mask.png]``.

    Files named ``*<depth_suffix>.*`` or ``*<mask_suffix>.*`` are never taken as
    images. Masks follow the same rules with ``mask_suffix``/``mask_dir``.

    **What the depth means.** ``.png``: 16-bit integers divided by ``depth_scale``
    (default 1000: millimetres); ``.npy``/``.exr``: float metres (``depth_scale``
    divides them too when given); ``.exr`` needs an OpenCV build with OpenEXR, else
    a one-line error says to convert to ``.npy``. A pixel is invalid (set to 0) when
    it equals ``invalid_value``, is not finite, is <= 0, or lies outside
    ``[min_depth, max_depth]``; a mask file, when given, is intersected.

    A sample is ``dict(img_path, img, ori_shape, sample_idx[, depth_path, gt_depth,
    gt_valid_mask])``: ``gt_depth`` float32 (H, W) metres with 0 = invalid, and
    ``gt_valid_mask`` bool (H, W) when masks are read. With ``with_depth=False`` it is
    an :class:`UnlabeledImageDataset` (distillation: the teacher labels the images).

    Args:
        data_root (str): a folder, a glob pattern or a list file.
        pipeline (list): the transforms.
        with_depth (bool): read a depth map per image (fine-tuning, evaluation).
        depth_suffix (str): the depth file's name is the image's stem + this.
        depth_dir (str, optional): a folder parallel to ``data_root`` holding them.
        depth_exts (Sequence[str]): depth extensions tried in order.
        depth_scale (float, optional): divisor of the raw values; None: 1000 for
            .png, 1 for floats.
        invalid_value (float, optional): raw value (before scaling) meaning "no
            depth", e.g. 0 or 65535; None: only non-finite and <= 0.
        min_depth (float): depths (metres) at or below this are invalid.
        max_depth (float, optional): depths above this are invalid (e.g. 20 indoor,
            80 outdoor, as DAv2's metric training).
        with_mask (bool): also read a mask file per image (a missing one is an error).
        mask_suffix (str): the mask file's name is the image's stem + this.
        mask_dir (str, optional): a folder parallel to ``data_root`` holding them.
        mask_exts (Sequence[str]): mask extensions tried in order.
        **kwargs: ``max_refetch``, ``test_mode``, ``metainfo`` (e.g.
            ``dict(benchmark='nyu')`` to evaluate with that benchmark's protocol;
            default ``'custom'``) and the rest of :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(benchmark='custom')

    def __init__(
        self,
        data_root: str,
        pipeline: Sequence = (),
        with_depth: bool = True,
        depth_suffix: str = '_depth',
        depth_dir: Optional[str] = None,
        depth_exts: Sequence[str] = DEPTH_EXTENSIONS,
        depth_scale: Optional[float] = None,
        invalid_value: Optional[float] = 0.0,
        min_depth: float = 1e-3,
        max_depth: Optional[float] = None,
        with_mask: bool = False,
        mask_suffix: str = '_mask',
        mask_dir: Optional[str] = None,
        mask_exts: Sequence[str] = ('.png', '.npy'),
        **kwargs,
    ) -> None:
        self.with_depth = with_depth
        self.depth_suffix = depth_suffix
        self.depth_dir = depth_dir
        self.depth_exts = tuple(depth_exts)
        self.depth_scale = depth_scale
        self.invalid_value = invalid_value
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.with_mask = with_mask
        self.mask_suffix = mask_suffix
        self.mask_dir = mask_dir
        self.mask_exts = tuple(mask_exts)
        super().__init__(data_root=data_root, pipeline=pipeline, **kwargs)

    # -- listing ------------------------------------------------------------------
    def _is_annotation(self, path: str) -> bool:
        stem = osp.splitext(osp.basename(path))[0]
        suffixes = [s for s in (self.depth_suffix, self.mask_suffix) if s]
        return any(stem.endswith(s) for s in suffixes)

    def _is_list_file(self) -> bool:
        return osp.isfile(self.source) and self.source.lower().endswith(LIST_EXTENSIONS)

    def full_init(self) -> None:
        # BaseDataset's path (a list of dicts), not the compact list-file buffer of
        # UnlabeledImageDataset: lines here hold up to three paths.
        if self._fully_initialized:
            return
        super(UnlabeledImageDataset, self).full_init()

    def load_data_list(self) -> List[dict]:
        if self._is_list_file():
            entries = self._read_list_file()
        else:
            if osp.isdir(self.source):
                paths = [
                    osp.join(root, f)
                    for root, _, files in os.walk(self.source)
                    for f in files
                    if f.lower().endswith(IMAGE_EXTENSIONS)
                ]
            elif osp.isfile(self.source):
                paths = [self.source]
            else:
                paths = glob.glob(self.source, recursive=True)
            entries = [dict(img_path=p) for p in sorted(paths) if not self._is_annotation(p)]
        if not entries:
            raise FileNotFoundError(
                f'{type(self).__name__}: no images found at {self.source!r}: give a folder '
                'of images, a glob, or a list file with lines "<image> [<depth> [<mask>]]"'
            )
        return entries

    def _read_list_file(self) -> List[dict]:
        base = osp.dirname(osp.abspath(self.source))
        entries = []
        with open(self.source, encoding='utf-8') as f:
            for line in f:
                tokens = line.split()
                if not tokens or tokens[0].startswith('#'):
                    continue
                paths = [t if osp.isabs(t) else osp.join(base, t) for t in tokens[:3]]
                entry = dict(img_path=paths[0])
                for key, path in zip(('depth_path', 'mask_path'), paths[1:]):
                    entry[key] = path
                entries.append(entry)
        return entries

    def _beside(self, img_path: str, suffix: str, folder: Optional[str], exts) -> List[str]:
        """Candidate annotation paths of an image, in the order they are tried."""
        if folder is not None and osp.isdir(self.source):
            rel = osp.splitext(osp.relpath(img_path, self.source))[0]
            stem = osp.join(folder, rel)
        else:
            stem = osp.splitext(img_path)[0]
        return [stem + suffix + ext for ext in exts]

    def _find(self, info: dict, key: str, suffix: str, folder, exts, what: str) -> str:
        if info.get(key):
            return info[key]
        candidates = self._beside(info['img_path'], suffix, folder, exts)
        for path in candidates:
            if osp.isfile(path):
                return path
        others = '/'.join(osp.splitext(c)[1] for c in candidates)
        raise UnreadableFileError(
            info['img_path'],
            f'no {what} file for this image (looked for {osp.splitext(candidates[0])[0]}'
            f'{{{others}}}); put it beside the image, set {what}_dir/{what}_suffix, or '
            'list it on the line',
        )

    # -- reading ------------------------------------------------------------------
    def read_depth(self, path: str) -> np.ndarray:
        """The raw depth of a file in metres (before validity checks)."""
        raw = read_depth_file(path, 1.0)
        if self.invalid_value is not None:
            invalid = raw == self.invalid_value
        else:
            invalid = np.zeros(raw.shape, dtype=bool)
        ext = osp.splitext(path)[1].lower()
        scale = DEFAULT_DEPTH_SCALE.get(ext, 1.0) if self.depth_scale is None else self.depth_scale
        depth = raw / np.float32(scale) if scale != 1.0 else raw
        return np.where(invalid, np.float32('nan'), depth).astype(np.float32)

    def load_annotations(self, info: dict, shape) -> None:
        """Add ``gt_depth`` (and ``gt_valid_mask``) to ``info``; raise when unusable."""
        depth_path = self._find(
            info, 'depth_path', self.depth_suffix, self.depth_dir, self.depth_exts, 'depth'
        )
        info['depth_path'] = depth_path
        depth = self.read_depth(depth_path)
        if depth.shape != tuple(shape):
            raise UnreadableFileError(
                depth_path,
                f'depth is {depth.shape[0]}x{depth.shape[1]} but its image '
                f'{osp.basename(info["img_path"])} is {shape[0]}x{shape[1]}; save the '
                'depth at the image size (or fix the pairing)',
            )
        valid = np.isfinite(depth) & (depth > self.min_depth)
        if self.max_depth is not None:
            valid &= depth <= self.max_depth
        if self.with_mask:
            mask_path = self._find(
                info, 'mask_path', self.mask_suffix, self.mask_dir, self.mask_exts, 'mask'
            )
            mask = read_mask_file(mask_path)
            if mask.shape != depth.shape:
                raise UnreadableFileError(
                    mask_path, f'mask is {mask.shape} but the depth is {depth.shape}'
                )
            valid &= mask
            info['gt_valid_mask'] = valid
        if not valid.any():
            raise UnreadableFileError(
                depth_path,
                'no valid depth pixel (all invalid_value, non-finite, <= min_depth'
                f'{", > max_depth" if self.max_depth is not None else ""} or masked); '
                'check depth_scale / invalid_value / max_depth',
            )
        info['gt_depth'] = np.where(valid, depth, 0.0).astype(np.float32)

    def prepare_data(self, idx: int) -> Optional[dict]:
        """The transformed sample ``idx``; None (skipped) when it cannot be used."""
        if idx in self._unreadable and not self.test_mode:
            return None
        info = self.get_data_info(idx)
        try:
            info['img'] = read_rgb(info['img_path'])
            info['ori_shape'] = info['img'].shape[:2]
            if self.with_depth:
                self.load_annotations(info, info['ori_shape'])
            return self.pipeline(info)
        except UnreadableFileError as exc:
            self._skip(idx, exc, what='sample')
            if not self.test_mode or 'img' not in info:
                return None
            # evaluation: keep the image, with no valid pixel (the metric counts it)
            info['gt_depth'] = np.zeros(info['ori_shape'], dtype=np.float32)
            info.pop('gt_valid_mask', None)
            return self.pipeline(info)


def _scan(root: str, pattern: str) -> List[str]:
    return sorted(glob.glob(osp.join(root, pattern), recursive=True))


@DATASETS.register_module()
class HypersimDataset(DepthFolderDataset):
    """Hypersim as Depth Anything V2's metric training reads it (indoor, max 20 m).

    Layout (the official download, ``data_root`` = the folder holding the scenes)::

        ai_001_001/images/scene_cam_00_final_preview/frame.0000.tonemap.jpg
        ai_001_001/images/scene_cam_00_geometry_hdf5/frame.0000.depth_meters.hdf5

    or a list file of ``<image> <depth.hdf5>`` lines (DAv2's
    ``dataset/splits/hypersim/*.txt``). The HDF5 ``'dataset'`` array is the
    **distance along the camera ray**; it is converted to planar depth with
    :func:`hypersim_distance_to_depth` (focal 886.81 px at 1024x768), as DAv2 does.
    NaN (no geometry) is invalid; ``max_depth`` defaults to 20 (the DAv2 Hypersim
    model's range).
    """

    METAINFO = dict(benchmark='custom')

    def __init__(self, data_root: str, pipeline: Sequence = (), max_depth=20.0, **kwargs):
        kwargs.setdefault('invalid_value', None)
        super().__init__(data_root, pipeline, max_depth=max_depth, **kwargs)

    def load_data_list(self) -> List[dict]:
        if self._is_list_file():
            return self._read_list_file()
        entries = []
        for img in _scan(self.source, '**/images/*_final_preview/frame.*.tonemap.jpg'):
            folder, name = osp.split(img)
            depth_folder = folder[: -len('_final_preview')] + '_geometry_hdf5'
            frame = name[: -len('.tonemap.jpg')]
            entries.append(
                dict(img_path=img, depth_path=osp.join(depth_folder, f'{frame}.depth_meters.hdf5'))
            )
        if not entries:
            raise FileNotFoundError(
                f'HypersimDataset: no */images/*_final_preview/frame.*.tonemap.jpg under '
                f'{self.source!r}; give the folder holding the ai_XXX_YYY scenes or a list file'
            )
        return entries

    def read_depth(self, path: str) -> np.ndarray:
        return hypersim_distance_to_depth(read_hdf5_array(path))


@DATASETS.register_module()
class VKITTI2Dataset(DepthFolderDataset):
    """Virtual KITTI 2 as Depth Anything V2's metric training reads it (outdoor, 80 m).

    Layout (``data_root`` = the folder holding both downloads)::

        vkitti_2.0.3_rgb/Scene01/clone/frames/rgb/Camera_0/rgb_00000.jpg
        vkitti_2.0.3_depth/Scene01/clone/frames/depth/Camera_0/depth_00000.png

    or a list file of ``<rgb> <depth>`` lines (DAv2's ``dataset/splits/vkitti2``).
    Depth is a 16-bit PNG in **centimetres** (``depth_scale`` 100); the sky is
    65535 (655.35 m) and, like everything beyond ``max_depth`` = 80, invalid.
    """

    METAINFO = dict(benchmark='custom')

    def __init__(
        self, data_root: str, pipeline: Sequence = (), max_depth=80.0, depth_scale=100.0, **kwargs
    ):
        super().__init__(
            data_root, pipeline, max_depth=max_depth, depth_scale=depth_scale, **kwargs
        )

    def load_data_list(self) -> List[dict]:
        if self._is_list_file():
            return self._read_list_file()
        entries = []
        for img in _scan(self.source, '**/frames/rgb/Camera_*/rgb_*.jpg'):
            depth = img.replace('vkitti_2.0.3_rgb', 'vkitti_2.0.3_depth')
            rgb_dir, depth_dir = (osp.join('', 'frames', d, '') for d in ('rgb', 'depth'))
            depth = depth.replace(os.sep + rgb_dir, os.sep + depth_dir)
            folder, name = osp.split(depth)
            depth = osp.join(folder, 'depth_' + name[len('rgb_') : -len('.jpg')] + '.png')
            entries.append(dict(img_path=img, depth_path=depth))
        if not entries:
            raise FileNotFoundError(
                f'VKITTI2Dataset: no */frames/rgb/Camera_*/rgb_*.jpg under {self.source!r}; '
                'give the folder holding vkitti_2.0.3_rgb/ and vkitti_2.0.3_depth/, or a list file'
            )
        return entries


__all__ = [
    'DepthFolderDataset',
    'HypersimDataset',
    'VKITTI2Dataset',
    'hypersim_distance_to_depth',
    'read_depth_file',
]
