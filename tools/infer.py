"""Predict relative disparity (or a metric model's depth) for images.

    python tools/infer.py INPUT CONFIG [CHECKPOINT] --out-dir DIR
                          [--save color png16 npy ply] [--device cpu] [--input-size N]
                          [--max-size 2044]

INPUT is an image, a folder (its images, sorted) or a quoted glob ('data/*.jpg').
CONFIG is a model config (configs/_base_/models/dav2_vitl.py) or a distiller config
(its student is used); CHECKPOINT is any layout the loader accepts (official .pth,
Distill-Any-Depth .safetensors, our training checkpoints).

The network input's short side is ``--input-size`` when given, else the size the
model was trained at: ``train_size`` of the checkpoint's own config (training
checkpoints keep it in their ``meta``) or of CONFIG (``model.train_size`` of a
distiller config, or a top-level ``train_size``); else the estimator's default
(518 for Depth Anything V2).

Per image, into DIR: ``<name>_color.png`` (inferno colormap, near = bright),
``<name>_disparity16.png`` (per-image min-max normalized disparity, uint16),
``<name>_disparity.npy`` (raw float32 disparity at the image size) and ``<name>.ply``
(coloured points, unprojected with an assumed field of view and depth range, see
``--fov`` and ``--depth-range``). A metric model (``pred_space == 'depth'``, e.g.
``DepthAnythingV2(max_depth=20)``, the student of ``configs/finetune``) writes its
depth in metres instead: ``<name>_depth.npy``, ``<name>_depth16.png`` (``depth * 256``,
as KITTI's PNGs), a colour map of the inverse depth (near = bright) and a ``.ply``
at the predicted depth (``--depth-range`` unused). Unreadable files are reported and
skipped; the exit code is 1 when any file failed.
"""

import argparse
import glob
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence, Tuple

from mmengine.config import Config
from tqdm import tqdm

from mmdistilldepth.apis import inference_depth, init_model
from mmdistilldepth.apis.outputs import DEFAULT_DEPTH_RANGE, DEFAULT_FOV_DEG, save_outputs
from mmdistilldepth.models.checkpoint_loading import CheckpointError
from mmdistilldepth.utils import UserInputError, check_file, load_config, one_line_errors
from mmdistilldepth.utils.image_io import UnreadableFileError, read_rgb

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
PRODUCTS = ('color', 'png16', 'npy', 'ply')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Relative depth (disparity), or a metric model's depth, for images."
    )
    parser.add_argument('input', help='an image, a folder of images, or a quoted glob')
    parser.add_argument('config', help='model or distiller config file')
    parser.add_argument('checkpoint', nargs='?', help='weights (.pth or .safetensors)')
    parser.add_argument('--out-dir', required=True, help='where the results go')
    parser.add_argument(
        '--save',
        nargs='+',
        choices=PRODUCTS,
        default=['color', 'npy'],
        help='what to write per image (default: color npy)',
    )
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    parser.add_argument(
        '--input-size',
        type=int,
        default=None,
        help="lower bound of the network input sides (default: the model's "
        'training size from the checkpoint or the config, else 518)',
    )
    parser.add_argument(
        '--max-size',
        type=int,
        default=2044,
        help='upper bound of the long side of the network input, for '
        'panoramas and other elongated images (default 2044, 146 patches)',
    )
    parser.add_argument(
        '--fov',
        type=float,
        default=DEFAULT_FOV_DEG,
        help='assumed horizontal field of view in degrees for .ply',
    )
    parser.add_argument(
        '--depth-range',
        type=float,
        nargs=2,
        default=DEFAULT_DEPTH_RANGE,
        metavar=('NEAR', 'FAR'),
        help='assumed scene depth range for .ply',
    )
    return parser.parse_args(argv)


def collect_inputs(pattern: str) -> List[str]:
    """The image files named by a path, a folder or a glob, sorted."""
    if osp.isdir(pattern):
        files = [
            osp.join(pattern, name)
            for name in os.listdir(pattern)
            if name.lower().endswith(IMAGE_EXTENSIONS)
        ]
    elif any(c in pattern for c in '*?['):
        files = [path for path in glob.glob(pattern, recursive=True) if osp.isfile(path)]
    elif osp.isfile(pattern):
        files = [pattern]
    else:
        raise UserInputError(
            f'input {pattern} does not exist; give an image, a folder or a '
            "quoted glob such as 'data/*.jpg'"
        )
    if not files:
        raise UserInputError(
            f'no images found in {pattern} (looked for {", ".join(IMAGE_EXTENSIONS)})'
        )
    return sorted(files)


def _train_size(cfg) -> Optional[int]:
    """The short side of ``model.train_size`` or a top-level ``train_size``, else None."""
    model = cfg.get('model')
    size = model.get('train_size') if isinstance(model, dict) else None
    size = cfg.get('train_size') if size is None else size
    if isinstance(size, (list, tuple)):
        return int(min(size)) if size else None
    return int(size) if isinstance(size, (int, float)) else None


def checkpoint_meta(path: Optional[str]) -> dict:
    """The ``meta`` of a torch checkpoint or the metadata of a safetensors file.

    Reads no tensor data (safetensors header; ``torch.load(mmap=True)``); {} when
    the file has none or cannot be read this way (the model loader reports it).
    """
    import pickle

    import torch

    from mmdistilldepth.utils import allow_mmengine_checkpoints

    if not path:
        return {}
    try:
        if path.endswith('.safetensors'):
            from safetensors import SafetensorError, safe_open

            try:
                with safe_open(path, framework='pt', device='cpu') as f:
                    return dict(f.metadata() or {})
            except SafetensorError:
                return {}
        allow_mmengine_checkpoints()  # training checkpoints hold mmengine's log buffers
        obj = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError):
        return {}  # init_model reads the file again and says what is wrong
    meta = obj.get('meta') if isinstance(obj, dict) else None
    return dict(meta) if isinstance(meta, dict) else {}


def training_input_size(cfg: Config, checkpoint: Optional[str]) -> Tuple[Optional[int], str]:
    """The network input size a model was trained at, and where it was found.

    Returns:
        tuple: (size or None, source): the checkpoint's ``meta['train_size']`` or the
        ``train_size`` of its config (``meta['cfg']``), else that of ``cfg``; None
        when neither says (the estimator's default applies).
    """
    meta = checkpoint_meta(checkpoint)
    if meta.get('train_size') is not None:
        value = meta['train_size']
        sizes = [int(v) for v in str(value).strip('()[] ').replace(',', ' ').split()]
        if sizes:
            return min(sizes), 'the checkpoint'
    if isinstance(meta.get('cfg'), str):
        try:
            size = _train_size(Config.fromstring(meta['cfg'], '.py'))
        except (SyntaxError, ValueError, TypeError, KeyError, NameError, ImportError):
            size = None  # a config text this mmengine cannot parse: use CONFIG's
        if size:
            return size, "the checkpoint's training config"
    size = _train_size(cfg)
    return (size, 'the config') if size else (None, "the estimator's default")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    with one_line_errors('infer'):
        cfg = load_config(args.config)
        if args.checkpoint is not None:
            check_file(
                args.checkpoint,
                'checkpoint',
                'give the path of a .pth or .safetensors file (see docs/models.md)',
            )
        files = collect_inputs(args.input)
        input_size, source = (
            (args.input_size, '--input-size')
            if args.input_size
            else training_input_size(cfg, args.checkpoint)
        )
        try:
            model = init_model(cfg, args.checkpoint, device=args.device)
        except CheckpointError as exc:
            raise UserInputError(str(exc)) from exc
    os.makedirs(args.out_dir, exist_ok=True)
    pred_space = getattr(model, 'pred_space', 'disparity')
    print(f'input size: {input_size or "default"} (from {source})')
    if pred_space == 'depth':
        print('metric model: writing depth in metres (_depth.npy, _depth16.png = depth * 256)')
    # None: inference_depth's own default preprocessing of the estimator
    size_kwargs = {} if input_size is None else dict(input_size=input_size)
    failed = []
    for path in tqdm(files, desc='infer', unit='img'):
        try:
            rgb = read_rgb(path)
        except UnreadableFileError as exc:
            failed.append(path)
            tqdm.write(f'skipped {exc.path}: {exc.reason}', file=sys.stderr)
            continue
        pred = inference_depth(model, rgb, max_size=args.max_size, **size_kwargs)
        stem = osp.join(args.out_dir, osp.splitext(osp.basename(path))[0])
        save_outputs(rgb, pred, stem, args.save, args.fov, tuple(args.depth_range), pred_space)
    print(
        f'{len(files) - len(failed)} of {len(files)} images written to {args.out_dir}'
        + (f'; {len(failed)} failed' if failed else '')
    )
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
