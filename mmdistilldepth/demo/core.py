"""What the demo page does, without the page: checked uploads, depth, comparison, crops.

Nothing here imports gradio, so all of it is tested without a server. ``app.py``
wires these functions to components; :class:`DemoInputError` becomes a ``gr.Error``
on the page and each returned notice a ``gr.Warning``.
"""

from __future__ import annotations

import glob
import os
import os.path as osp
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from mmdistilldepth.evaluation.functional.alignment import fit_scale_shift
from mmdistilldepth.utils import UserInputError
from mmdistilldepth.utils.image_io import UnreadableFileError, read_rgb

from . import backend

#: The smallest image side the demo accepts: one patch of the network (14 px).
MIN_SIDE = 14
#: Default bound of the pixels of an upload (``--max-pixels``): the products are
#: written at the image size, and a 24 MP ``.ply`` is already 360 MB.
DEFAULT_MAX_PIXELS = 24_000_000
#: The quickstart job whose newest checkpoint the demo serves when given no config.
QUICKSTART_CONFIG = osp.join('configs', 'quickstart', 'cross_context_synthetic.py')
QUICKSTART_WORK_DIR = osp.join('work_dirs', 'cross_context_synthetic')
#: Bundled examples, rendered at start-up: (file name, scene kind, height, width).
EXAMPLES = (
    ('room.png', 'room', 240, 320),
    ('street.png', 'street', 240, 320),
    ('wide_street.png', 'street', 160, 480),
)

_MODE_NOTICES = {
    'L': 'is grayscale: its channel was replicated to RGB',
    'LA': 'is grayscale with alpha: the alpha was dropped, the gray replicated to RGB',
    'I': 'is a 32-bit grayscale image: it was converted to 8-bit RGB',
    'I;16': 'is a 16-bit grayscale image: it was scaled to 8 bits and replicated to RGB',
    'I;16B': 'is a 16-bit grayscale image: it was scaled to 8 bits and replicated to RGB',
    'F': 'is a float grayscale image: it was converted to 8-bit RGB',
    'RGBA': 'has an alpha channel: it was dropped (transparent pixels keep their colour)',
    'PA': 'has an alpha channel: it was dropped (transparent pixels keep their colour)',
    'CMYK': 'is CMYK: it was converted to RGB',
}


class DemoInputError(ValueError):
    """An upload or a setting the demo cannot use; the message says why and what to do."""


@dataclass
class DemoModel:
    """A depth model as the demo runs it, with ``tools/infer.py``'s two size flags.

    Args:
        name (str): the label on the page (e.g. the checkpoint's file name).
        model (nn.Module): from :func:`~mmdistilldepth.apis.init_model`.
        input_size (int): ``--input-size``, the lower bound of the input sides.
        max_size (int, optional): ``--max-size``, the bound of the input's long side.
    """

    name: str
    model: torch.nn.Module
    input_size: int = 518
    max_size: Optional[int] = 2044

    @property
    def pred_space(self) -> str:
        """``'disparity'``, or ``'depth'`` (metres) for a metric model."""
        return getattr(self.model, 'pred_space', 'disparity')

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """Disparity (or a metric model's depth) (H, W) float32, exactly what
        ``tools/infer.py`` saves as ``.npy``.
        """
        return backend.predict_disparity(self.model, rgb, self.input_size, self.max_size)

    def bound_notice(self, height: int, width: int) -> Optional[str]:
        """The notice for an image whose network input ``--max-size`` shrinks, else None."""
        bounded = backend.network_input_size(height, width, self.input_size, self.max_size)
        free = backend.network_input_size(height, width, self.input_size, None)
        if bounded == free:
            return None
        return (
            f'the image is {width}x{height} px: its network input would be '
            f'{free[1]}x{free[0]}, bounded to {bounded[1]}x{bounded[0]} by '
            f'--max-size {self.max_size} (as tools/infer.py does)'
        )


def read_upload(
    path: Optional[str], max_pixels: int = DEFAULT_MAX_PIXELS
) -> Tuple[np.ndarray, List[str]]:
    """Read an uploaded file as ``tools/infer.py`` reads an image, with checks first.

    Args:
        path (str, optional): the uploaded file (None when nothing was uploaded).
        max_pixels (int): refuse images with more pixels (``--max-pixels``).

    Returns:
        tuple: RGB uint8 (H, W, 3), and notices about conversions (grayscale, alpha).

    Raises:
        DemoInputError: no file, not an image, fewer than 14 px on a side, or more
            than ``max_pixels`` pixels.
    """
    if not path:
        raise DemoInputError('no image: upload one, or pick one of the examples')
    name = osp.basename(path)
    mode, size = _peek(path)
    if size is not None:
        _check_pixels(name, *size, max_pixels)
    try:
        rgb = read_rgb(path)
    except UnreadableFileError as exc:
        raise DemoInputError(
            f'{name} cannot be used: {exc.reason}. Upload a JPEG, PNG, BMP, TIFF or WebP image'
        ) from None
    height, width = rgb.shape[:2]
    _check_pixels(name, width, height, max_pixels)
    if min(height, width) < MIN_SIDE:
        raise DemoInputError(
            f'{name} is {width}x{height} px; the demo needs at least '
            f'{MIN_SIDE} px on each side (one patch of the network)'
        )
    notices = []
    if mode in _MODE_NOTICES:
        notices.append(f'{name} {_MODE_NOTICES[mode]}, as tools/infer.py does')
    return rgb, notices


def _peek(path: str) -> Tuple[Optional[str], Optional[Tuple[int, int]]]:
    """The PIL mode and (width, height) from the file header, without decoding it."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            mode = image.mode
            if mode == 'P' and 'transparency' in image.info:
                mode = 'PA'
            return mode, image.size
    except Image.DecompressionBombError:
        raise DemoInputError(
            f'{osp.basename(path)} has far too many pixels for the demo; '
            'shrink it, or run tools/infer.py on it'
        ) from None
    except (OSError, ValueError, SyntaxError):
        return None, None  # not for PIL; OpenCV has the last word in read_rgb


def _check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise DemoInputError(
            f'{name} is {width}x{height} px ({width * height / 1e6:.1f} MP), more than the '
            f"demo's bound of {max_pixels / 1e6:.1f} MP (--max-pixels); shrink it, or run "
            'tools/infer.py on it'
        )


class OutputStore:
    """Per-request folders for the downloadable files, the oldest removed past ``keep``.

    Args:
        root (str, optional): where the folders go (a new temporary folder if None).
        keep (int): how many request folders are kept.
    """

    def __init__(self, root: Optional[str] = None, keep: int = 32) -> None:
        self.root = root or tempfile.mkdtemp(prefix='mdd_demo_')
        os.makedirs(self.root, exist_ok=True)
        self.keep = keep
        self._count = 0

    def new_dir(self) -> str:
        self._count += 1
        path = tempfile.mkdtemp(prefix=f'{self._count:06d}_', dir=self.root)
        folders = sorted(glob.glob(osp.join(self.root, '*_*')), key=osp.getmtime)
        for old in folders[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return path


def product_stem(folder: str, upload: str) -> str:
    """``folder/<name>`` for an upload ``.../<name>.<ext>`` (tools/infer.py's naming)."""
    stem = osp.splitext(osp.basename(upload))[0]
    return osp.join(folder, re.sub(r'[^\w.-]', '_', stem) or 'image')


def colorbar_html(disparity: np.ndarray, steps: int = 16, pred_space: str = 'disparity') -> str:
    """A colour bar for :func:`backend.colorize_rgb`, labelled with the value range
    (disparity, or a metric model's depth in metres).
    """
    ramp = backend.colorize_rgb(np.linspace(0.0, 1.0, steps, dtype=np.float32)[None])[0]
    stops = ', '.join(f'rgb({r},{g},{b})' for r, g, b in ramp)
    low, high = float(np.min(disparity)), float(np.max(disparity))
    if pred_space == 'depth':
        far, middle, near = (
            f'far: depth {high:.4g} m',
            'metric depth, coloured by its inverse, per image min-max',
            f'near: {low:.4g} m',
        )
    else:
        far, middle, near = (
            f'far: disparity {low:.4g}',
            'relative disparity (affine-invariant), per image min-max',
            f'near: {high:.4g}',
        )
    return (
        '<div class="mdd-colorbar">'
        f'<div style="height:14px;border-radius:3px;background:linear-gradient(to right, '
        f'{stops})"></div><div style="display:flex;justify-content:space-between;'
        f'font-size:0.85em"><span>{far}</span><span>{middle}</span>'
        f'<span>{near}</span></div></div>'
    )


@dataclass
class Comparison:
    """Model B aligned to model A by least squares, and what is left.

    Attributes:
        scale (float), shift (float): ``aligned_b = scale * b + shift``.
        aligned_b (ndarray): (H, W) in A's disparity units.
        abs_diff (ndarray): ``|aligned_b - a|`` (H, W).
        mean_rel (float): mean ``abs_diff`` over the range of ``a`` (0.01 = 1 %).
        frac_over (float): fraction of pixels with ``abs_diff`` above 5 % of that range.
    """

    scale: float
    shift: float
    aligned_b: np.ndarray
    abs_diff: np.ndarray
    mean_rel: float
    frac_over: float


def compare_disparities(disp_a: np.ndarray, disp_b: np.ndarray) -> Comparison:
    """Align ``disp_b`` to ``disp_a`` (scale and shift, all pixels) and diff them."""
    if disp_a.shape != disp_b.shape:
        raise ValueError(f'the two maps differ in shape: {disp_a.shape} vs {disp_b.shape}')
    a, b = torch.from_numpy(disp_a), torch.from_numpy(disp_b)
    scale, shift = fit_scale_shift(b, a)
    aligned = (b.double() * scale.double() + shift.double()).float().numpy()
    abs_diff = np.abs(aligned - disp_a)
    span = float(disp_a.max() - disp_a.min()) or 1.0
    return Comparison(
        float(scale),
        float(shift),
        aligned,
        abs_diff,
        float(abs_diff.mean() / span),
        float((abs_diff > 0.05 * span).mean()),
    )


def difference_rgb(comparison: Comparison, disp_a: np.ndarray, vmax: float = 0.2) -> np.ndarray:
    """``abs_diff`` as RGB (viridis): black = equal, yellow = ``vmax`` of A's range or more."""
    span = float(disp_a.max() - disp_a.min()) or 1.0
    scaled = np.clip(comparison.abs_diff / (vmax * span), 0, 1)
    bgr = cv2.applyColorMap(np.round(scaled * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def parse_box(box: Sequence[Optional[float]], height: int, width: int) -> Tuple[int, int, int, int]:
    """A crop ``(x0, y0, x1, y1)`` in pixels, corners in any order, clipped to the image.

    Raises:
        DemoInputError: a missing corner, or a crop under 14 px on a side.
    """
    if len(box) != 4 or any(v is None for v in box):
        raise DemoInputError(
            'give the crop as x0, y0, x1, y1 in pixels (or click two corners on the image)'
        )
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    x0, x1 = min(x0, x1), max(x0, x1)
    y0, y1 = min(y0, y1), max(y0, y1)
    x0, x1 = max(0, x0), min(width, x1)
    y0, y1 = max(0, y0), min(height, y1)
    if x1 - x0 < MIN_SIDE or y1 - y0 < MIN_SIDE:
        raise DemoInputError(
            f'the crop ({x0}, {y0})-({x1}, {y1}) inside the {width}x{height} '
            f'image is under {MIN_SIDE} px on a side; draw a larger one'
        )
    return x0, y0, x1, y1


def default_box(height: int, width: int) -> Tuple[int, int, int, int]:
    """The centred crop of half the image's sides (the box the crop tab starts with)."""
    return width // 4, height // 4, width - width // 4, height - height // 4


def draw_box(rgb: np.ndarray, box: Tuple[int, int, int, int]) -> np.ndarray:
    """A copy of ``rgb`` with the crop outlined."""
    out = rgb.copy()
    thickness = max(1, round(max(rgb.shape[:2]) / 200))
    cv2.rectangle(out, box[:2], (box[2] - 1, box[3] - 1), (0, 255, 64), thickness)
    return out


@dataclass
class CropResult:
    """The paper's Fig. 5 for one crop: the crop predicted alone vs cut from the full map.

    Attributes:
        box (tuple): (x0, y0, x1, y1) in pixels.
        alone (ndarray): disparity of the crop given to the model by itself (h, w).
        from_full (ndarray): the same region of the full image's disparity (h, w).
        comparison (Comparison): ``alone`` aligned to ``from_full``.
    """

    box: Tuple[int, int, int, int]
    alone: np.ndarray
    from_full: np.ndarray
    comparison: Comparison


def crop_prediction(
    model: DemoModel,
    rgb: np.ndarray,
    box: Tuple[int, int, int, int],
    full: Optional[np.ndarray] = None,
) -> CropResult:
    """Predict a crop by itself and cut the same region from the full prediction.

    Args:
        model (DemoModel): the model.
        rgb (ndarray): the whole image, RGB uint8 (H, W, 3).
        box (tuple): (x0, y0, x1, y1) from :func:`parse_box`.
        full (ndarray, optional): the whole image's disparity if already computed.
    """
    x0, y0, x1, y1 = box
    if full is None:
        full = model.predict(rgb)
    alone = model.predict(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    from_full = np.ascontiguousarray(full[y0:y1, x0:x1])
    return CropResult(box, alone, from_full, compare_disparities(from_full, alone))


def write_examples(folder: str, seed: int = 7) -> List[str]:
    """Render the bundled example images (``EXAMPLES``) into ``folder`` as PNG."""
    from mmdistilldepth.datasets.synthetic_scenes import render_scene

    os.makedirs(folder, exist_ok=True)
    paths = []
    for index, (name, kind, height, width) in enumerate(EXAMPLES):
        path = osp.join(folder, name)
        if not osp.isfile(path):
            scene = render_scene(seed, index, height, width, kind)
            cv2.imwrite(path, cv2.cvtColor(scene['img'], cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def newest_checkpoint(work_dir: str = QUICKSTART_WORK_DIR) -> str:
    """The checkpoint to serve from a work dir: ``best_*.pth``, else the last ``iter_*.pth``.

    Raises:
        UserInputError: the work dir holds neither.
    """
    best = sorted(glob.glob(osp.join(work_dir, 'best_*.pth')), key=osp.getmtime)
    if best:
        return best[-1]
    iters: Dict[int, str] = {}
    for path in glob.glob(osp.join(work_dir, 'iter_*.pth')):
        match = re.fullmatch(r'iter_(\d+)\.pth', osp.basename(path))
        if match:
            iters[int(match.group(1))] = path
    if iters:
        return iters[max(iters)]
    raise UserInputError(
        f'no checkpoint (best_*.pth or iter_*.pth) in {work_dir}/; run '
        f'python tools/train.py {QUICKSTART_CONFIG} first'
    )
