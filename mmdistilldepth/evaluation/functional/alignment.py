"""Alignment of a prediction to ground-truth depth before the metrics.

Four modes, one module:

- ``least_square`` / ``least_square_disparity``: Marigold's
  ``align_depth_least_square`` and the two alignment modes of its ``eval.py`` (see
  ``fixtures/README.md`` section 3): the fit runs in float64 and returns float32
  scale and shift, which are applied in float32 to the whole image. For affine-
  invariant depth and disparity models.
- ``median``: scale only, ``median(gt) / median(pred)`` over the fit pixels (the
  mean of the two middle values for an even count, as ``numpy.median``), in depth
  space. For scale-invariant (e.g. metric-but-off-by-a-scale) depth.
- ``none``: the prediction is metric depth and is compared as it is (scale 1,
  shift 0). For metric models (``DepthAnythingV2(max_depth=...)``).

:func:`to_alignment_space` turns a prediction into the space a mode works in, given
what the model predicts (``pred_space``: ``'disparity'`` or ``'depth'``).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

ALIGNMENT_MODES = ('least_square', 'least_square_disparity', 'median', 'none')
#: What a model's output is: relative inverse depth, or depth (metric or affine).
PRED_SPACES = ('disparity', 'depth')
#: Aligned disparities are clipped to at least this before inversion to depth.
MIN_ALIGNED_DISPARITY = 1e-3


class NoValidPixelError(ValueError):
    """An image has no pixel to evaluate on, or none to fit the alignment on."""


def fit_subsample_scale(shape: Tuple[int, int], max_res: Optional[int]) -> Optional[float]:
    """``min(max_res / H, max_res / W)`` when it is < 1 (the fit is subsampled), else None."""
    if max_res is None:
        return None
    scale = min(max_res / shape[0], max_res / shape[1])
    return scale if scale < 1 else None


def subsample_for_fit(x: torch.Tensor, max_res: Optional[int]) -> torch.Tensor:
    """Subsample an (H, W) map for the fit the way the community protocol does.

    With ``s = min(max_res / H, max_res / W) < 1`` the official code calls
    ``torch.nn.Upsample(scale_factor=s, mode='nearest')`` on a **(1, H, W)** tensor.
    PyTorch reads that as a batch of one with H channels and a 1-D signal, so only
    the **width** is subsampled (to ``floor(W * s)`` columns, column j taken from
    ``floor(j / s)``); the height is kept. We make the same call, so the selected
    columns match bit for bit (real ETH3D 4032x6048 is fit at 4032x1024).

    Args:
        x (Tensor): (H, W) map (bool maps are subsampled as float and turned back).
        max_res (int, optional): the cap; None or a scale >= 1 returns ``x``.

    Returns:
        Tensor: (H, W') with W' <= W.
    """
    scale = fit_subsample_scale(tuple(x.shape[-2:]), max_res)
    if scale is None:
        return x
    is_bool = x.dtype == torch.bool
    out = F.interpolate(
        x[None].float() if is_bool else x[None], scale_factor=scale, mode='nearest'
    )[0]
    return out.bool() if is_bool else out


def fit_scale_shift(
    pred: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Least-squares ``scale, shift`` minimising ``||pred * scale + shift - target||``.

    Computed in float64 on the masked pixels (centred normal equations, which equal
    ``numpy.linalg.lstsq([pred, 1], target)``); when the masked prediction is
    constant the minimum-norm solution is returned, as lstsq does.

    Args:
        pred (Tensor): prediction, any shape.
        target (Tensor): target of the same shape, in the aligned prediction's space.
        mask (Tensor, optional): bool, the elements used (at least one); None uses all.

    Returns:
        tuple[Tensor, Tensor]: float32 scalar tensors (scale, shift) on ``pred``'s
        device.
    """
    p = pred[mask] if mask is not None else pred.reshape(-1)
    t = target[mask] if mask is not None else target.reshape(-1)
    scale, shift = fit_scale_shift_batched(p[None], t[None])
    return scale[0], shift[0]


def fit_scale_shift_batched(
    pred: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`fit_scale_shift` for each item of a batch, in one tensor op.

    The same fit (float64, centred normal equations, lstsq's minimum-norm solution
    for a constant prediction), with no data-dependent shape: a mask weighs pixels
    instead of selecting them. Use it for per-image alignment of a batch (teachers,
    visualization hooks, tools), e.g. ``scale[:, None, None, None] * pred + shift[...]``.

    Args:
        pred (Tensor): (B, ...) prediction.
        target (Tensor): (B, ...) target, the same shape.
        mask (Tensor, optional): (B, ...) bool, the elements used (at least one per
            item, else that item's scale and shift are NaN); None uses all.

    Returns:
        tuple[Tensor, Tensor]: float32 (B,) scale and shift on ``pred``'s device.
    """
    p = pred.flatten(1).double()
    t = target.flatten(1).double()
    if mask is None:
        p_mean, t_mean = p.mean(1), t.mean(1)
        p_c = p - p_mean[:, None]
        var = (p_c * p_c).sum(1)
        cov = (p_c * (t - t_mean[:, None])).sum(1)
    else:
        w = mask.flatten(1).double()
        n = w.sum(1)
        p_mean, t_mean = (p * w).sum(1) / n, (t * w).sum(1) / n
        p_c = (p - p_mean[:, None]) * w
        var = (p_c * p_c).sum(1)
        cov = (p_c * (t - t_mean[:, None])).sum(1)
    # Constant prediction: lstsq's minimum-norm solution of c * scale + shift = mean.
    degenerate = var <= 0
    norm = p_mean * p_mean + 1
    scale = torch.where(degenerate, p_mean * t_mean / norm, cov / torch.where(degenerate, 1, var))
    shift = torch.where(degenerate, t_mean / norm, t_mean - scale * p_mean)
    return scale.float(), shift.float()


def to_alignment_space(pred: torch.Tensor, pred_space: Optional[str], mode: str) -> torch.Tensor:
    """The prediction in the space ``mode`` aligns in, given what the model predicts.

    - a depth prediction (``pred_space='depth'``) under ``least_square_disparity`` is
      inverted to disparity (0 where it is <= 0);
    - a disparity prediction under ``none`` or ``median`` is inverted to depth
      (clipped to >= 1e-3 first), since neither mode can absorb the inversion;
    - anything else (and ``pred_space=None``, "as given") is returned unchanged:
      ``least_square`` fits whatever it is given in depth space, as the community
      protocol does for depth models.

    Raises:
        ValueError: unknown ``pred_space``.
    """
    if pred_space is None:
        return pred
    if pred_space not in PRED_SPACES:
        raise ValueError(f'unknown pred_space {pred_space!r}; choose one of {PRED_SPACES}')
    if pred_space == 'depth' and mode == 'least_square_disparity':
        positive = pred > 0
        return torch.where(positive, 1.0 / torch.where(positive, pred, 1.0), 0.0)
    if pred_space == 'disparity' and mode in ('none', 'median'):
        return 1.0 / pred.clamp(min=MIN_ALIGNED_DISPARITY)
    return pred


def median_value(x: torch.Tensor) -> torch.Tensor:
    """The median of a 1-D tensor as ``numpy.median`` (mean of the two middle values)."""
    x = x.reshape(-1).double()
    n = x.numel()
    lower = x.kthvalue((n + 1) // 2).values
    upper = x.kthvalue(n // 2 + 1).values
    return (lower + upper) / 2


def fit_median_scale(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``median(target) / median(pred)`` of 1-D values (float32 scalar, 1 if degenerate)."""
    p_med = median_value(pred)
    scale = median_value(target) / p_med if bool(p_med > 0) else p_med.new_tensor(1.0)
    return scale.float()


def fit_target(
    pred: torch.Tensor, gt: torch.Tensor, mode: str
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """What the prediction is fitted to, and which elements may be used (None = all).

    ``least_square`` and ``none``: the depth itself. ``median``: the depth, usable where
    pred > 0. ``least_square_disparity``: ``1 / gt`` (0 where gt <= 0), usable where
    gt > 0 and pred > 0.
    """
    if mode in ('least_square', 'none'):
        return gt, None
    if mode == 'median':
        return gt, pred > 0
    positive_gt = gt > 0
    target = torch.where(positive_gt, 1.0 / torch.where(positive_gt, gt, 1.0), 0.0)
    return target, positive_gt & (pred > 0)


def apply_alignment(
    pred: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, mode: str
) -> torch.Tensor:
    """``pred * scale + shift`` in float32; disparities are clipped to >= 1e-3 and
    inverted to depth.
    """
    aligned = pred * scale + shift
    if mode == 'least_square_disparity':
        aligned = 1.0 / aligned.clamp(min=MIN_ALIGNED_DISPARITY)
    return aligned


def _fit(
    pred: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor], mode: str
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Scale and shift of ``mode`` on the masked elements (mask None = all)."""
    if mode == 'none':
        one = torch.ones((), dtype=torch.float32, device=pred.device)
        return one, torch.zeros_like(one)
    if mode == 'median':
        p = pred[mask] if mask is not None else pred.reshape(-1)
        t = target[mask] if mask is not None else target.reshape(-1)
        scale = fit_median_scale(p, t)
        return scale, torch.zeros_like(scale)
    return fit_scale_shift(pred, target, mask)


def _check_mode(mode: str) -> None:
    if mode not in ALIGNMENT_MODES:
        raise ValueError(f'unknown alignment {mode!r}; choose one of {ALIGNMENT_MODES}')


def _no_fit_pixel(mode: str) -> NoValidPixelError:
    return NoValidPixelError(
        f'no pixel to fit the {mode} alignment on (valid, with '
        'positive ground truth and prediction)'
    )


def align_depth(
    pred: torch.Tensor,
    gt: torch.Tensor,
    valid_mask: torch.Tensor,
    mode: str = 'least_square',
    max_res: Optional[int] = None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Align a prediction to metric ground-truth depth.

    Args:
        pred (Tensor): (H, W) prediction at the GT's resolution: affine-invariant
            depth for ``'least_square'``, affine-invariant disparity for
            ``'least_square_disparity'``, depth up to a scale for ``'median'``,
            metric depth for ``'none'`` (see :func:`to_alignment_space`).
        gt (Tensor): (H, W) ground-truth depth in metres, 0 = missing.
        valid_mask (Tensor): (H, W) bool, the benchmark's valid pixels.
        mode (str): ``'least_square'`` fits ``pred`` to ``gt`` in depth space;
            ``'least_square_disparity'`` fits ``pred`` to ``1 / gt`` on pixels where
            both are > 0, clips the aligned disparity to >= 1e-3 and inverts it;
            ``'median'`` scales ``pred`` by ``median(gt) / median(pred)``; ``'none'``
            returns ``pred`` as it is.
        max_res (int, optional): fit on a subsampled copy (:func:`subsample_for_fit`);
            the fitted scale and shift are applied at full resolution.

    Returns:
        tuple: ``(depth, scale, shift)``: (H, W) float32 aligned depth in metres (not
        yet clipped to the benchmark range) and the float32 scale and shift.

    Raises:
        ValueError: unknown mode or mismatched shapes.
        NoValidPixelError: no pixel to fit on.
    """
    _check_mode(mode)
    if not pred.shape == gt.shape == valid_mask.shape:
        raise ValueError(
            f'pred {tuple(pred.shape)}, gt {tuple(gt.shape)} and valid_mask '
            f'{tuple(valid_mask.shape)} must have the same (H, W) shape'
        )
    pred, gt = pred.float(), gt.float()
    target, usable = fit_target(pred, gt, mode)
    fit_mask = valid_mask if usable is None else valid_mask & usable
    fit_pred, fit_target_, fit_mask = (
        subsample_for_fit(x, max_res) for x in (pred, target, fit_mask)
    )
    if not bool(fit_mask.any()):
        raise _no_fit_pixel(mode)
    scale, shift = _fit(fit_pred, fit_target_, fit_mask, mode)
    return apply_alignment(pred, scale, shift, mode), scale, shift


def align_values(
    pred: torch.Tensor, gt: torch.Tensor, mode: str = 'least_square'
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`align_depth` on the valid pixels only, as 1-D values (no ``max_res``).

    The same elements in the same order as ``align_depth(pred_map, gt_map, valid)``
    uses, so the result is identical; it just skips the invalid pixels.

    Args:
        pred (Tensor): (N,) predictions at the valid pixels.
        gt (Tensor): (N,) ground-truth depths at the valid pixels.
        mode (str): see :func:`align_depth`.

    Returns:
        tuple: ``(depth, scale, shift)`` with ``depth`` (N,) float32.
    """
    _check_mode(mode)
    pred, gt = pred.float(), gt.float()
    target, usable = fit_target(pred, gt, mode)
    if usable is not None:
        if not bool(usable.any()):
            raise _no_fit_pixel(mode)
        scale, shift = _fit(pred, target, usable, mode)
    else:
        scale, shift = _fit(pred, target, None, mode)
    return apply_alignment(pred, scale, shift, mode), scale, shift
