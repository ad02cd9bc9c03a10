"""Predict relative disparity for images with a Depth Anything V2 model.

    python tools/infer.py INPUT CONFIG [CHECKPOINT] --out-dir DIR
                          [--save color png16 npy ply] [--device cpu] [--input-size 518]
                          [--max-size 2044]

INPUT is an image, a folder (its images, sorted) or a quoted glob ('data/*.jpg').
CONFIG is a model config (configs/_base_/models/dav2_vitl.py) or a distiller config
(its student is used); CHECKPOINT is any layout the loader accepts (official .pth,
Distill-Any-Depth .safetensors, our training checkpoints).

Per image, into DIR: ``<name>_color.png`` (inferno colormap, near = bright),
``<name>_disparity16.png`` (per-image min-max normalized disparity, uint16),
``<name>_disparity.npy`` (raw float32 disparity at the image size) and ``<name>.ply``
(coloured points, unprojected with an assumed field of view and depth range, see
``--fov`` and ``--depth-range``). Unreadable files are reported and skipped; the
exit code is 1 when any file failed.
"""
import argparse
import glob
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from mmdistilldepth.apis import inference_depth, init_model
from mmdistilldepth.apis.outputs import (DEFAULT_DEPTH_RANGE, DEFAULT_FOV_DEG,
                                         colorize_disparity, disparity_to_points,
                                         disparity_to_uint16, write_ply)
from mmdistilldepth.models.checkpoint_loading import CheckpointError
from mmdistilldepth.utils import UserInputError, check_file, load_config, one_line_errors
from mmdistilldepth.utils.image_io import UnreadableFileError, read_rgb

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
PRODUCTS = ('color', 'png16', 'npy', 'ply')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Relative depth (disparity) for images.')
    parser.add_argument('input', help='an image, a folder of images, or a quoted glob')
    parser.add_argument('config', help='model or distiller config file')
    parser.add_argument('checkpoint', nargs='?', help='weights (.pth or .safetensors)')
    parser.add_argument('--out-dir', required=True, help='where the results go')
    parser.add_argument('--save', nargs='+', choices=PRODUCTS, default=['color', 'npy'],
                        help='what to write per image (default: color npy)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    parser.add_argument('--input-size', type=int, default=518,
                        help='lower bound of the network input sides (default 518)')
    parser.add_argument('--max-size', type=int, default=2044,
                        help='upper bound of the long side of the network input, for '
                        'panoramas and other elongated images (default 2044, 146 patches)')
    parser.add_argument('--fov', type=float, default=DEFAULT_FOV_DEG,
                        help='assumed horizontal field of view in degrees for .ply')
    parser.add_argument('--depth-range', type=float, nargs=2, default=DEFAULT_DEPTH_RANGE,
                        metavar=('NEAR', 'FAR'), help='assumed scene depth range for .ply')
    return parser.parse_args(argv)


def collect_inputs(pattern: str) -> List[str]:
    """The image files named by a path, a folder or a glob, sorted."""
    if osp.isdir(pattern):
        files = [osp.join(pattern, name) for name in os.listdir(pattern)
                 if name.lower().endswith(IMAGE_EXTENSIONS)]
    elif any(c in pattern for c in '*?['):
        files = [path for path in glob.glob(pattern, recursive=True) if osp.isfile(path)]
    elif osp.isfile(pattern):
        files = [pattern]
    else:
        raise UserInputError(f'input {pattern} does not exist; give an image, a folder or a '
                             "quoted glob such as 'data/*.jpg'")
    if not files:
        raise UserInputError(f'no images found in {pattern} '
                             f'(looked for {", ".join(IMAGE_EXTENSIONS)})')
    return sorted(files)


def save_outputs(rgb: np.ndarray, disparity: np.ndarray, stem: str, args) -> None:
    if 'color' in args.save:
        cv2.imwrite(f'{stem}_color.png', colorize_disparity(disparity))
    if 'png16' in args.save:
        cv2.imwrite(f'{stem}_disparity16.png', disparity_to_uint16(disparity))
    if 'npy' in args.save:
        np.save(f'{stem}_disparity.npy', disparity.astype(np.float32))
    if 'ply' in args.save:
        points = disparity_to_points(disparity, args.fov, tuple(args.depth_range))
        write_ply(f'{stem}.ply', points, rgb.reshape(-1, 3))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    with one_line_errors('infer'):
        cfg = load_config(args.config)
        if args.checkpoint is not None:
            check_file(args.checkpoint, 'checkpoint',
                       'give the path of a .pth or .safetensors file (see docs/models.md)')
        files = collect_inputs(args.input)
        try:
            model = init_model(cfg, args.checkpoint, device=args.device)
        except CheckpointError as exc:
            raise UserInputError(str(exc)) from exc
    os.makedirs(args.out_dir, exist_ok=True)
    failed = []
    for path in tqdm(files, desc='infer', unit='img'):
        try:
            rgb = read_rgb(path)
        except UnreadableFileError as exc:
            failed.append(path)
            tqdm.write(f'skipped {exc.path}: {exc.reason}', file=sys.stderr)
            continue
        disparity = inference_depth(model, rgb, args.input_size, args.max_size)
        stem = osp.join(args.out_dir, osp.splitext(osp.basename(path))[0])
        save_outputs(rgb, disparity, stem, args)
    print(f'{len(files) - len(failed)} of {len(files)} images written to {args.out_dir}'
          + (f'; {len(failed)} failed' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
