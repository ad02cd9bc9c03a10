"""NYUv2 labeled set (official .mat files) -> the community evaluation layout.

    python tools/dataset_converters/nyu_mat_to_layout.py nyu_depth_v2_labeled.mat splits.mat
        --out data/nyuv2 [--split test|train|all]

Inputs (https://cs.nyu.edu/~silberman/datasets/nyu_depth_v2.html):

* ``nyu_depth_v2_labeled.mat`` (2.8 GB) is a MATLAB **v7.3** file, i.e. HDF5 with a
  512-byte MATLAB header: read with ``h5py``. Datasets as h5py sees them (MATLAB's
  column-major arrays come out transposed): ``images`` uint8 (N, 3, 640, 480),
  ``rawDepths`` and ``depths`` float32 (N, 640, 480) in metres, ``scenes`` (1, N)
  references to uint16 character arrays (e.g. ``kitchen_0004``).
* ``splits.mat`` is a MATLAB **v5** file: read with ``scipy.io.loadmat``;
  ``testNdxs`` (654, 1) and ``trainNdxs`` (795, 1), 1-based indices into the N=1449.
  (Either file is read with the other reader if it turns out to be of the other
  version.)

Output, the layout of Marigold's ``nyu_labeled_extracted`` (index XXXX = 1-based):

* ``<split>/<scene>/rgb_XXXX.png``: RGB 480x640.
* ``<split>/<scene>/depth_XXXX.png``: ``rawDepths`` (the sensor's depth, 0 = missing)
  as uint16 millimetres. The benchmark evaluates on this raw depth (Marigold issue
  #114: its evaluation uses the raw depth only).
* ``<split>/<scene>/filled_XXXX.png``: ``depths`` (NYU's colorization in-fill), same
  encoding, for reference.
* ``filename_list_<split>.txt``: lines ``rgb depth filled`` relative to ``--out``.

Needs ``h5py`` and ``scipy`` (``pip install h5py scipy``).
"""

import argparse
import os
import os.path as osp
from typing import Dict, List

import cv2
import numpy as np

from mmdistilldepth.utils import UserInputError, check_file, one_line_errors

HDF5_SIGNATURE = b'\x89HDF\r\n\x1a\n'


def is_hdf5_mat(path: str) -> bool:
    """True for MATLAB v7.3 (HDF5, signature after the 512-byte header or at 0)."""
    with open(path, 'rb') as f:
        head = f.read(520)
    return head[:8] == HDF5_SIGNATURE or head[512:520] == HDF5_SIGNATURE


def _import(name: str):
    try:
        return __import__(name, fromlist=['_'])
    except ImportError:
        raise UserInputError(
            f'reading .mat files needs the {name.split(".")[0]} package: '
            f'pip install {name.split(".")[0]}'
        ) from None


def read_split_indices(path: str) -> Dict[str, np.ndarray]:
    """``{'test': ..., 'train': ...}``: 0-based indices from ``splits.mat``."""
    keys = dict(test='testNdxs', train='trainNdxs')
    if is_hdf5_mat(path):
        h5py = _import('h5py')
        with h5py.File(path, 'r') as f:
            arrays = {k: np.asarray(f[v]) for k, v in keys.items()}
    else:
        loadmat = _import('scipy.io').loadmat
        mat = loadmat(path)
        missing = [v for v in keys.values() if v not in mat]
        if missing:
            raise UserInputError(f'{path} has no {missing}: is it the official splits.mat?')
        arrays = {k: mat[v] for k, v in keys.items()}
    return {k: np.asarray(v).astype(np.int64).ravel() - 1 for k, v in arrays.items()}


def _depth_png(depth_hw: np.ndarray) -> np.ndarray:
    depth = np.nan_to_num(depth_hw, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.round(depth * 1000.0), 0, 65535).astype(np.uint16)


def _scene_name(f, ref) -> str:
    chars = np.asarray(f[ref]).ravel()
    return ''.join(chr(int(c)) for c in chars)


def convert(mat_path: str, splits_path: str, out_dir: str, splits: List[str]) -> List[str]:
    """Write the layout; returns the list files written."""
    if not is_hdf5_mat(mat_path):
        raise UserInputError(
            f'{mat_path} is not a MATLAB v7.3 (HDF5) file; the official '
            'nyu_depth_v2_labeled.mat is: download it again'
        )
    h5py = _import('h5py')
    indices = read_split_indices(splits_path)
    written = []
    with h5py.File(mat_path, 'r') as f:
        for key in ('images', 'rawDepths', 'depths', 'scenes'):
            if key not in f:
                raise UserInputError(f'{mat_path} has no {key!r}: is it the labeled NYUv2 set?')
        images, raw, filled, scenes = f['images'], f['rawDepths'], f['depths'], f['scenes']
        count = images.shape[0]
        for split in splits:
            lines = []
            for index in indices[split]:
                if not 0 <= index < count:
                    raise UserInputError(
                        f'{splits_path}: index {index + 1} is outside 1..{count} of {mat_path}'
                    )
                scene = _scene_name(f, scenes[0, index])
                folder = osp.join(split, scene)
                os.makedirs(osp.join(out_dir, folder), exist_ok=True)
                names = [
                    osp.join(folder, f'{kind}_{index + 1:04d}.png')
                    for kind in ('rgb', 'depth', 'filled')
                ]
                rgb = np.asarray(images[index]).transpose(2, 1, 0)  # (3, W, H) -> (H, W, 3)
                cv2.imwrite(osp.join(out_dir, names[0]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                cv2.imwrite(osp.join(out_dir, names[1]), _depth_png(np.asarray(raw[index]).T))
                cv2.imwrite(osp.join(out_dir, names[2]), _depth_png(np.asarray(filled[index]).T))
                lines.append(' '.join(names))
            list_path = osp.join(out_dir, f'filename_list_{split}.txt')
            with open(list_path, 'w') as out:
                out.write('\n'.join(lines) + '\n')
            written.append(list_path)
    return written


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='NYUv2 labeled .mat -> evaluation layout')
    parser.add_argument('mat', help='nyu_depth_v2_labeled.mat')
    parser.add_argument('splits', help='splits.mat')
    parser.add_argument('--out', required=True, help='the data root to write (data/nyuv2)')
    parser.add_argument('--split', choices=['test', 'train', 'all'], default='test')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('nyu_mat_to_layout.py'):
        check_file(
            args.mat,
            'labeled set',
            'download nyu_depth_v2_labeled.mat (2.8 GB) from '
            'https://cs.nyu.edu/~silberman/datasets/nyu_depth_v2.html',
        )
        check_file(args.splits, 'split file', 'download splits.mat from the same page')
        splits = ['test', 'train'] if args.split == 'all' else [args.split]
        for path in convert(args.mat, args.splits, args.out, splits):
            print(f'wrote {path}')


if __name__ == '__main__':
    main()
