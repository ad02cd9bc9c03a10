"""The zero-shot benchmark protocols (Marigold's community protocol), in one table.

Every rule that differs between benchmarks lives in :data:`BENCHMARK_PROTOCOLS`:
the ground-truth depth range, the evaluation crop, whether the dataset's own mask
replaces the range test, and the resolution the scale/shift fit runs at. The readers
(``mmdistilldepth/datasets/benchmarks.py``) hold the file-format rules; what is
decided here is which pixels count and how predictions are clipped.

Sources (Marigold ``src/dataset/*_dataset.py`` and ``script/depth/eval.py`` at
b1dffaa, and ``fixtures/README.md`` section 3):

============  ===========  ========  ===================  ================  ==============
benchmark     min_depth    max_depth  crop                 valid mask        fit max res
============  ===========  ========  ===================  ================  ==============
nyu           1e-3         10         Eigen box 45:471,    range & crop      full
                                      41:601 (480x640)
kitti         1e-5         80         Eigen (fractions of  range & crop      full
                                      the KB-cropped GT)
eth3d         1e-5         inf        none                 range             1024 (width
                                                                             only, see
                                                                             align_depth)
diode         0.6          350        none                 provided mask,    full
                                                           as is
scannet       1e-3         10         none                 range             full
synthetic     1e-3         100        none                 range & provided  full
custom        1e-3         inf        none                 range & provided  full
============  ===========  ========  ===================  ================  ==============

For every benchmark the aligned prediction is clipped to [min_depth, max_depth] and
then to >= 1e-6 before the metrics; for DIODE the range only clips the prediction.
ScanNet follows Marigold (``scannet_dataset.py``: PNG in mm / 1000, range 1e-3..10,
no Eigen crop; the 800-image list ``scannet_val_sampled_list_800_1.txt``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

#: crop name -> (top, bottom, left, right) as fractions of the GT's height/width
#: (KITTI, after the KB crop; Garg ECCV16 and Eigen NIPS14 as in BTS/Marigold).
FRACTIONAL_CROPS: Dict[str, Tuple[float, float, float, float]] = {
    'kitti_eigen': (0.3324324, 0.91351351, 0.0359477, 0.96405229),
    'kitti_garg': (0.40810811, 0.99189189, 0.03594771, 0.96405229),
}
#: crop name -> (pixel box (row0, row1, col0, col1), the (H, W) it is defined on).
#: On another size (synthetic data only; real NYUv2 frames are 480x640) the box is
#: scaled with the image.
FIXED_CROPS: Dict[str, Tuple[Tuple[int, int, int, int], Tuple[int, int]]] = {
    'nyu_eigen': ((45, 471, 41, 601), (480, 640)),
}


@dataclass(frozen=True)
class BenchmarkProtocol:
    """The evaluation rules of one benchmark.

    Attributes:
        name (str): benchmark key (``'nyu'``, ``'kitti'``, ...).
        min_depth (float): GT depths must be > this (metres); predictions are
            clipped to it.
        max_depth (float): GT depths must be < this (metres); predictions are
            clipped to it.
        crop (str, optional): key of :data:`FIXED_CROPS` / :data:`FRACTIONAL_CROPS`,
            or None.
        use_provided_mask (bool): the dataset's mask is the valid mask as is
            (DIODE); otherwise the range and the crop decide, intersected with a
            provided mask when there is one.
        alignment_max_res (int, optional): default resolution cap for the
            scale/shift fit (see :func:`align_depth`); None fits at full size.
    """

    name: str
    min_depth: float
    max_depth: float
    crop: Optional[str] = None
    use_provided_mask: bool = False
    alignment_max_res: Optional[int] = None


BENCHMARK_PROTOCOLS: Dict[str, BenchmarkProtocol] = {
    'nyu': BenchmarkProtocol('nyu', 1e-3, 10.0, crop='nyu_eigen'),
    'kitti': BenchmarkProtocol('kitti', 1e-5, 80.0, crop='kitti_eigen'),
    'eth3d': BenchmarkProtocol('eth3d', 1e-5, math.inf, alignment_max_res=1024),
    'diode': BenchmarkProtocol('diode', 0.6, 350.0, use_provided_mask=True),
    'scannet': BenchmarkProtocol('scannet', 1e-3, 10.0),
    # Rendered scenes (SyntheticScenes, make_synthetic): exact depth up to 80 m, the
    # renderer's mask marks the sky; not a community benchmark.
    'synthetic': BenchmarkProtocol('synthetic', 1e-3, 100.0),
    # Your own labeled set (DepthFolderDataset): its reader already marks invalid and
    # out-of-range pixels with 0, so every positive depth counts; no crop.
    'custom': BenchmarkProtocol('custom', 1e-3, math.inf),
}


def get_protocol(benchmark: str) -> BenchmarkProtocol:
    """Look a benchmark up by name, with an error that lists the known ones."""
    try:
        return BENCHMARK_PROTOCOLS[benchmark]
    except KeyError:
        raise KeyError(
            f'unknown benchmark {benchmark!r}; known benchmarks: {sorted(BENCHMARK_PROTOCOLS)}'
        ) from None


def crop_mask(
    shape: Tuple[int, int], crop: Optional[str], device: Optional[torch.device] = None
) -> Optional[torch.Tensor]:
    """The boolean (H, W) evaluation-crop mask, or None for no crop.

    Args:
        shape (tuple): (H, W) of the ground truth.
        crop (str, optional): a key of :data:`FIXED_CROPS` or
            :data:`FRACTIONAL_CROPS`.
        device: where to create the mask.
    """
    if crop is None:
        return None
    height, width = shape
    if crop in FIXED_CROPS:
        (r0, r1, c0, c1), (ref_h, ref_w) = FIXED_CROPS[crop]
        if (height, width) != (ref_h, ref_w):
            r0, r1 = round(r0 * height / ref_h), round(r1 * height / ref_h)
            c0, c1 = round(c0 * width / ref_w), round(c1 * width / ref_w)
    elif crop in FRACTIONAL_CROPS:
        top, bottom, left, right = FRACTIONAL_CROPS[crop]
        r0, r1 = int(top * height), int(bottom * height)
        c0, c1 = int(left * width), int(right * width)
    else:
        raise KeyError(
            f'unknown evaluation crop {crop!r}; known crops: '
            f'{sorted(FIXED_CROPS) + sorted(FRACTIONAL_CROPS)}'
        )
    mask = torch.zeros(shape, dtype=torch.bool, device=device)
    mask[r0:r1, c0:c1] = True
    return mask


def benchmark_valid_mask(
    gt: torch.Tensor,
    benchmark: str,
    valid_mask: Optional[torch.Tensor] = None,
    crop: Optional[str] = 'default',
) -> torch.Tensor:
    """The pixels a benchmark evaluates on.

    Args:
        gt (Tensor): (H, W) ground-truth depth in metres, 0 = missing.
        benchmark (str): a key of :data:`BENCHMARK_PROTOCOLS`.
        valid_mask (Tensor, optional): (H, W) bool mask provided with the data.
            DIODE: required, used as is. Others: intersected with the range and crop.
        crop (str, optional): override the benchmark's crop (e.g. ``'kitti_garg'``
            or None); ``'default'`` keeps the protocol's.

    Returns:
        Tensor: (H, W) bool on ``gt``'s device.
    """
    protocol = get_protocol(benchmark)
    if protocol.use_provided_mask:
        if valid_mask is None:
            raise ValueError(
                f'benchmark {benchmark!r} evaluates on the mask provided '
                'with the data (e.g. DIODE *_depth_mask.npy), but none was '
                'given: load it with LoadDepthAnnotation(with_mask=True)'
            )
        # The official script uses the mask as is; on the real data every masked pixel
        # has a finite positive depth, so also requiring that changes no official
        # number and keeps a corrupt file (NaN, inf, <= 0 under the mask) from
        # turning the metrics into NaN.
        return valid_mask.to(device=gt.device, dtype=torch.bool) & torch.isfinite(gt) & (gt > 0)
    valid = (gt > protocol.min_depth) & (gt < protocol.max_depth)
    crop_name = protocol.crop if crop == 'default' else crop
    eval_crop = crop_mask(tuple(gt.shape[-2:]), crop_name, device=gt.device)
    if eval_crop is not None:
        valid &= eval_crop
    if valid_mask is not None:
        valid &= valid_mask.to(device=gt.device, dtype=torch.bool)
    return valid
