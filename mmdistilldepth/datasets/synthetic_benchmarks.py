"""Rendered scenes written in the on-disk layout of each zero-shot benchmark.

The files have the real formats (uint16 PNG in mm or /256, raw float32 with +inf,
``.npy`` depth and mask) and the real folder structure and split lists, so the
benchmark readers, the loading transforms, the metric and ``tools/test.py`` run on
them exactly as on the real data. Used by
``tools/dataset_converters/make_synthetic.py`` and by :class:`SyntheticNYUv2`.
"""

from __future__ import annotations

import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from mmdistilldepth.registry import DATASETS

from .benchmarks import NYUv2Dataset
from .synthetic_scenes import RENDERER_VERSION, render_scene

#: format -> (default (H, W), scene kinds cycled over the samples, split list name)
SYNTHETIC_FORMATS: Dict[str, Tuple[Tuple[int, int], Tuple[str, ...], str]] = {
    'nyu': ((480, 640), ('room',), 'filename_list_test.txt'),
    'kitti': ((375, 1242), ('street',), 'eigen_test_files_with_gt.txt'),
    'eth3d': ((504, 756), ('street', 'room'), 'eth3d_filename_list.txt'),
    'diode': ((768, 1024), ('room', 'street'), 'diode_val_all_filename_list.txt'),
    'scannet': ((480, 640), ('room',), 'scannet_val_sampled_list.txt'),
}
STAMP_FILE = 'synthetic.json'


def _render(seed: int, index: int, size: Tuple[int, int], kind: str, render_scale: int) -> dict:
    """render_scene at ``size / render_scale``, enlarged back with nearest if > 1."""
    height, width = size
    if render_scale <= 1:
        return render_scene(seed, index, height, width, kind)
    small = render_scene(seed, index, -(-height // render_scale), -(-width // render_scale), kind)
    big = {
        k: cv2.resize(
            small[k].astype(np.uint8) if k == 'valid' else small[k],
            (width, height),
            interpolation=cv2.INTER_NEAREST,
        )
        for k in ('img', 'depth', 'valid')
    }
    big['valid'] = big['valid'].astype(bool)
    return big


def _write_png(path: str, image: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, image):
        raise OSError(f'could not write {path}')


def _depth_to_uint16(depth: np.ndarray, valid: np.ndarray, scale: float) -> np.ndarray:
    return np.where(valid, np.clip(np.round(depth * scale), 0, 65535), 0).astype(np.uint16)


def _nyu(root: str, i: int, scene: dict, rng: np.random.Generator) -> str:
    folder = osp.join('test', f'synthetic_{i // 4:04d}')
    rgb, depth, filled = (
        osp.join(folder, f'{p}_{i + 1:04d}.png') for p in ('rgb', 'depth', 'filled')
    )
    _write_png(osp.join(root, rgb), scene['img'])
    # Kinect-like holes: a few random blobs without depth.
    holes = cv2.dilate(
        (rng.random(scene['depth'].shape) < 2e-4).astype(np.uint8), np.ones((9, 9), np.uint8)
    ).astype(bool)
    _write_png(
        osp.join(root, depth), _depth_to_uint16(scene['depth'], scene['valid'] & ~holes, 1000.0)
    )
    _write_png(osp.join(root, filled), _depth_to_uint16(scene['depth'], scene['valid'], 1000.0))
    return f'{rgb} {depth} {filled}'


def _kitti(root: str, i: int, scene: dict, rng: np.random.Generator) -> str:
    drive = f'2011_09_26_drive_{i // 4 + 1:04d}_sync'
    frame = f'{i:010d}.png'
    rgb = osp.join('2011_09_26', drive, 'image_02', 'data', frame)
    depth = osp.join(drive, 'proj_depth', 'groundtruth', 'image_02', frame)
    _write_png(osp.join(root, rgb), scene['img'])
    height = scene['depth'].shape[0]
    # LiDAR-like: sparse points, none in the top third of the frame.
    lidar = rng.random(scene['depth'].shape) < 0.08
    lidar[: height // 3] = False
    _write_png(
        osp.join(root, depth), _depth_to_uint16(scene['depth'], scene['valid'] & lidar, 256.0)
    )
    return f'{rgb} {depth} 721.5377'


def _eth3d(root: str, i: int, scene: dict, rng: np.random.Generator) -> str:
    name = f'DSC_{i:04d}.JPG'
    place = f'scene{i // 4}'
    rgb = osp.join('rgb', place, 'images', 'dslr_images', name)
    depth = osp.join(
        'depth', f'{place}_dslr_depth', place, 'ground_truth_depth', 'dslr_images', name
    )
    os.makedirs(osp.dirname(osp.join(root, rgb)), exist_ok=True)
    cv2.imwrite(
        osp.join(root, rgb),
        cv2.cvtColor(scene['img'], cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, 95],
    )
    os.makedirs(osp.dirname(osp.join(root, depth)), exist_ok=True)
    raw = np.where(scene['valid'], scene['depth'], np.inf).astype('<f4')
    raw.tofile(osp.join(root, depth))
    return f'{rgb} {depth}'


def _diode(root: str, i: int, scene: dict, rng: np.random.Generator) -> str:
    indoor = scene['kind'] == 'room'
    split = 'indoors' if indoor else 'outdoor'
    stem = osp.join(
        split, f'scene_{i // 4:05d}', f'scan_{i:05d}', f'{i // 4:05d}_{i:05d}_{split}_000_000'
    )
    _write_png(osp.join(root, stem + '.png'), scene['img'])
    np.save(
        osp.join(root, stem + '_depth.npy'),
        np.where(scene['valid'], scene['depth'], 0).astype(np.float32)[..., None],
    )
    np.save(osp.join(root, stem + '_depth_mask.npy'), scene['valid'].astype(np.float32))
    return f'{stem}.png {stem}_depth.npy {stem}_depth_mask.npy'


def _scannet(root: str, i: int, scene: dict, rng: np.random.Generator) -> str:
    place = f'scene{i // 4:04d}_00'
    rgb = osp.join(place, 'color', f'{i * 100:06d}.jpg')
    depth = osp.join(place, 'depth', f'{i * 100:06d}.png')
    os.makedirs(osp.dirname(osp.join(root, rgb)), exist_ok=True)
    cv2.imwrite(
        osp.join(root, rgb),
        cv2.cvtColor(scene['img'], cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, 95],
    )
    _write_png(osp.join(root, depth), _depth_to_uint16(scene['depth'], scene['valid'], 1000.0))
    return f'{rgb} {depth}'


_WRITERS: Dict[str, Callable[[str, int, dict, np.random.Generator], str]] = dict(
    nyu=_nyu, kitti=_kitti, eth3d=_eth3d, diode=_diode, scannet=_scannet
)


def write_synthetic_benchmark(
    format: str,
    out_dir: str,
    num: int,
    seed: int = 0,
    size: Optional[Tuple[int, int]] = None,
    render_scale: int = 1,
) -> str:
    """Render ``num`` scenes and write them in a benchmark's layout under ``out_dir``.

    Args:
        format (str): ``'nyu'``, ``'kitti'``, ``'eth3d'``, ``'diode'`` or ``'scannet'``.
        out_dir (str): the benchmark's data root (created).
        num (int): number of samples.
        seed (int): scene family seed; the same arguments write the same files.
        size (tuple, optional): (H, W); defaults to the benchmark's real size (ETH3D:
            1/8 of 4032x6048). KITTI needs at least 352x1216 for the KB crop.
        render_scale (int): render at ``size / render_scale`` and enlarge (nearest),
            for quick tests.

    Returns:
        str: the path of the split list written (Marigold's list name and format;
        the KITTI list also has one ``None`` line, as the Eigen list does).
    """
    if format not in SYNTHETIC_FORMATS:
        raise ValueError(f'unknown format {format!r}; choose one of {sorted(SYNTHETIC_FORMATS)}')
    default_size, kinds, list_name = SYNTHETIC_FORMATS[format]
    size = tuple(size) if size else default_size
    rng = np.random.default_rng([seed, 7])
    lines: List[str] = []
    for i in range(num):
        kind = kinds[i % len(kinds)]
        scene = _render(seed, i, size, kind, render_scale)
        scene['kind'] = kind
        lines.append(_WRITERS[format](out_dir, i, scene, rng))
    if format == 'kitti':  # Eigen frames without annotated GT are listed as None
        lines.insert(
            1, '2011_09_26/2011_09_26_drive_0009_sync/image_02/data/0000000000.png None 721.5377'
        )
    list_path = osp.join(out_dir, list_name)
    with open(list_path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(osp.join(out_dir, STAMP_FILE), 'w') as f:
        json.dump(
            dict(
                format=format,
                num=num,
                seed=seed,
                size=list(size),
                render_scale=render_scale,
                renderer=RENDERER_VERSION,
            ),
            f,
        )
    return list_path


@DATASETS.register_module()
class SyntheticNYUv2(NYUv2Dataset):
    """Rendered rooms in the NYUv2 layout, written on first use, read by NYUv2Dataset.

    The folder is written when it is absent or empty, and rewritten when it holds a
    synthetic set of other parameters (its ``synthetic.json`` stamp differs); a folder
    without the stamp is never touched (an error says so). Writing goes to a temporary
    folder that is then renamed, so concurrent ranks do not see half-written data.

    Args:
        data_root (str): where the layout lives (e.g. ``data/synthetic_nyu``).
        num_samples (int): number of images.
        seed (int): scene family seed (keep it apart from the training seed).
        height (int): image height; the Eigen crop scales with the frame.
        width (int): image width.
        **kwargs: see :class:`NYUv2Dataset`.
    """

    #: tools may not require the folder to exist beforehand: it is written on first use
    creates_data_root = True

    def __init__(
        self,
        data_root: str,
        num_samples: int = 40,
        seed: int = 1000,
        height: int = 240,
        width: int = 320,
        **kwargs,
    ) -> None:
        self._synthetic = dict(
            format='nyu',
            num=num_samples,
            seed=seed,
            size=[height, width],
            render_scale=1,
            renderer=RENDERER_VERSION,
        )
        self._ensure_written(data_root)
        kwargs.setdefault('ann_file', SYNTHETIC_FORMATS['nyu'][2])
        super().__init__(data_root, **kwargs)

    def _ensure_written(self, data_root: str) -> None:
        stamp = osp.join(data_root, STAMP_FILE)
        if osp.isfile(stamp):
            with open(stamp) as f:
                if json.load(f) == self._synthetic:
                    return
        elif osp.isdir(data_root) and os.listdir(data_root):
            raise FileExistsError(
                f'SyntheticNYUv2: {data_root!r} exists and is not a synthetic set written '
                f'by it (no {STAMP_FILE}); give a data_root of its own'
            )
        parent = osp.dirname(osp.abspath(data_root))
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix='.synthetic_nyu-', dir=parent)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; give it normal rights
        params = self._synthetic
        write_synthetic_benchmark('nyu', tmp, params['num'], params['seed'], tuple(params['size']))
        if osp.isdir(data_root):  # empty, or an older synthetic set of ours
            shutil.rmtree(data_root, ignore_errors=True)
        try:
            os.rename(tmp, data_root)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)


__all__ = ['SYNTHETIC_FORMATS', 'write_synthetic_benchmark', 'SyntheticNYUv2']
