"""One image through a benchmark's protocol: valid mask, alignment, clipping, metrics."""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Tuple

import torch

from .alignment import (
    NoValidPixelError,
    align_depth,
    align_values,
    fit_subsample_scale,
    to_alignment_space,
)
from .depth_metrics import depth_error_metrics, depth_error_metrics_of_values
from .protocols import benchmark_valid_mask, get_protocol

#: Aligned predictions are clipped to at least this before the metrics.
MIN_EVAL_DEPTH = 1e-6


class AlignedDepth(NamedTuple):
    """What the protocol compares: (H, W) maps and the fitted scale and shift."""

    pred: torch.Tensor  # aligned, clipped depth in metres (float32)
    gt: torch.Tensor  # ground-truth depth in metres (float32)
    valid_mask: torch.Tensor  # bool, the pixels that count
    scale: torch.Tensor
    shift: torch.Tensor


def _prepare(
    pred: torch.Tensor,
    gt: torch.Tensor,
    benchmark: str,
    valid_mask: Optional[torch.Tensor],
    crop: Optional[str],
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(H, W) float32 pred and gt on pred's device, and the benchmark's valid mask."""
    pred = pred.reshape(pred.shape[-2:]).float()
    gt = gt.reshape(gt.shape[-2:]).to(device=pred.device, dtype=torch.float32)
    if valid_mask is not None:
        valid_mask = valid_mask.reshape(valid_mask.shape[-2:]).to(pred.device)
    if pred.shape != gt.shape:
        raise ValueError(
            f'prediction {tuple(pred.shape)} and ground truth '
            f'{tuple(gt.shape)} differ in size: resize the prediction to '
            'the ground truth first'
        )
    return pred, gt, benchmark_valid_mask(gt, benchmark, valid_mask, crop=crop)


def _max_res(benchmark: str, alignment_max_res: Optional[int]) -> Optional[int]:
    return (
        get_protocol(benchmark).alignment_max_res
        if alignment_max_res is None
        else alignment_max_res
    )


def align_to_benchmark(
    pred: torch.Tensor,
    gt: torch.Tensor,
    benchmark: str,
    alignment: str,
    valid_mask: Optional[torch.Tensor] = None,
    alignment_max_res: Optional[int] = None,
    crop: Optional[str] = 'default',
    pred_space: Optional[str] = None,
) -> AlignedDepth:
    """Apply a benchmark's protocol up to the metrics (also used for pictures).

    Args:
        pred (Tensor): (H, W) or (1, H, W) prediction at the GT's resolution:
            affine-invariant depth or disparity (see ``alignment``).
        gt (Tensor): (H, W) or (1, H, W) ground-truth depth in metres, 0 = missing.
            KITTI: already KB-cropped to 352x1216.
        benchmark (str): ``'nyu'``, ``'kitti'``, ``'eth3d'``, ``'diode'`` or
            ``'scannet'`` (see :data:`BENCHMARK_PROTOCOLS`).
        alignment (str): ``'least_square'`` (depth models),
            ``'least_square_disparity'`` (disparity models), ``'median'`` (scale
            only) or ``'none'`` (metric models, compared as they are).
        valid_mask (Tensor, optional): (H, W) bool mask provided with the data;
            DIODE's is required and used as is.
        alignment_max_res (int, optional): resolution cap of the fit; None uses the
            benchmark's default (1024 for ETH3D, none elsewhere).
        crop (str, optional): override the benchmark's evaluation crop, e.g.
            ``'kitti_garg'`` or None; ``'default'`` keeps the protocol's.
        pred_space (str, optional): what ``pred`` is, ``'disparity'`` or
            ``'depth'``; it is first turned into the alignment's space
            (:func:`to_alignment_space`). None takes it as given.

    Returns:
        AlignedDepth: float32 (H, W) maps on ``pred``'s device.

    Raises:
        NoValidPixelError: no pixel to evaluate or to fit on.
    """
    protocol = get_protocol(benchmark)
    pred, gt, valid = _prepare(pred, gt, benchmark, valid_mask, crop)
    pred = to_alignment_space(pred, pred_space, alignment)
    if not bool(valid.any()):
        raise NoValidPixelError(f'no valid {benchmark} ground-truth pixel')
    aligned, scale, shift = align_depth(
        pred, gt, valid, mode=alignment, max_res=_max_res(benchmark, alignment_max_res)
    )
    aligned = aligned.clamp(protocol.min_depth, protocol.max_depth).clamp(min=MIN_EVAL_DEPTH)
    return AlignedDepth(aligned, gt, valid, scale, shift)


def evaluate_depth(
    pred: torch.Tensor,
    gt: torch.Tensor,
    benchmark: str,
    alignment: str,
    valid_mask: Optional[torch.Tensor] = None,
    alignment_max_res: Optional[int] = None,
    crop: Optional[str] = 'default',
    pred_space: Optional[str] = None,
) -> Dict[str, torch.Tensor]:
    """Zero-shot metrics of one prediction, community protocol.

    Pure torch, on whichever device the tensors are on. Steps: the benchmark's valid
    mask (range, crop, provided mask), least-squares alignment (depth or disparity
    space), clip the aligned depth to the benchmark's range and to >= 1e-6, then the
    metrics of :func:`depth_error_metrics` on the valid pixels.

    Args: see :func:`align_to_benchmark`.

    Returns:
        dict[str, Tensor]: ``abs_rel, sq_rel, rmse, rmse_log, log10, delta1, delta2,
        delta3, i_rmse, silog_rmse`` as 0-d float32 tensors.

    Raises:
        NoValidPixelError: the image has no pixel to evaluate or to fit on.
    """
    if fit_subsample_scale(tuple(gt.shape[-2:]), _max_res(benchmark, alignment_max_res)):
        # the fit runs on a subsampled full map (ETH3D): the general path
        aligned = align_to_benchmark(
            pred, gt, benchmark, alignment, valid_mask, alignment_max_res, crop, pred_space
        )
        return depth_error_metrics(aligned.pred, aligned.gt, aligned.valid_mask)
    # Fast path: everything from here on needs the valid pixels only (same elements in
    # the same order as the full-map path, so the same numbers).
    protocol = get_protocol(benchmark)
    pred, gt, valid = _prepare(pred, gt, benchmark, valid_mask, crop)
    pred = to_alignment_space(pred, pred_space, alignment)
    index = valid.reshape(-1).nonzero().squeeze(1)
    if index.numel() == 0:
        raise NoValidPixelError(f'no valid {benchmark} ground-truth pixel')
    p, g = pred.reshape(-1)[index], gt.reshape(-1)[index]
    p = align_values(p, g, alignment)[0]
    p = p.clamp(protocol.min_depth, protocol.max_depth).clamp(min=MIN_EVAL_DEPTH)
    return depth_error_metrics_of_values(p, g)
