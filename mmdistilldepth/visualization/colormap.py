"""The one colorizer of depth-like maps, and labelled panels with a colour bar.

Every picture of the project is made here: the colour PNGs of ``tools/infer.py``,
the training pictures of ``DepthVisualizationHook`` (RGB | teacher | student |
error) and the worst images of ``tools/test.py``. Images are RGB uint8 unless a
function says otherwise; :func:`to_bgr` gives OpenCV's order for ``cv2.imwrite``.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

#: Colormap names accepted by :func:`colorize` (OpenCV's lookup tables).
COLORMAPS: Dict[str, int] = dict(
    inferno=cv2.COLORMAP_INFERNO,
    magma=cv2.COLORMAP_MAGMA,
    plasma=cv2.COLORMAP_PLASMA,
    viridis=cv2.COLORMAP_VIRIDIS,
    turbo=cv2.COLORMAP_TURBO,
    jet=cv2.COLORMAP_JET,
)
Colormap = Union[str, int]
#: Heights (px) of the title strip above a panel and of the colour bar below it.
TITLE_HEIGHT = 18
BAR_HEIGHT = 24


def _colormap_id(colormap: Colormap) -> int:
    if isinstance(colormap, str):
        if colormap not in COLORMAPS:
            raise ValueError(f'unknown colormap {colormap!r}; choose one of {sorted(COLORMAPS)}')
        return COLORMAPS[colormap]
    return int(colormap)


def robust_range(
    values: np.ndarray,
    valid: Optional[np.ndarray] = None,
    percentiles: Tuple[float, float] = (2, 98),
) -> Tuple[float, float]:
    """A robust (low, high) of the valid finite values: their percentiles.

    Args:
        values (ndarray): (H, W) map.
        valid (ndarray, optional): (H, W) bool, the pixels to consider.
        percentiles (tuple): lower and upper percentile, in [0, 100].

    Returns:
        tuple[float, float]: (0, 1) when no pixel is valid and finite.
    """
    values = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(values) if valid is None else np.isfinite(values) & valid
    if not keep.any():
        return 0.0, 1.0
    low, high = np.percentile(values[keep], percentiles)
    return float(low), float(high)


def colorize(
    values: np.ndarray,
    valid: Optional[np.ndarray] = None,
    value_range: Optional[Tuple[float, float]] = None,
    colormap: Colormap = 'inferno',
    percentiles: Tuple[float, float] = (2, 98),
) -> np.ndarray:
    """Map values to colours: ``low`` -> the colormap's start, ``high`` -> its end.

    Args:
        values (ndarray): (H, W) map, e.g. disparity (near = high = bright in
            ``inferno``) or an error map.
        valid (ndarray, optional): (H, W) bool; other pixels are drawn black and
            ignored by the automatic range.
        value_range (tuple, optional): (low, high) of the colour scale; None takes
            the ``percentiles`` of the valid values.
        colormap (str | int): a name of :data:`COLORMAPS` or an OpenCV colormap id.
        percentiles (tuple): the automatic range.

    Returns:
        ndarray: RGB uint8 (H, W, 3).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f'colorize expects an (H, W) map, got shape {values.shape}')
    low, high = value_range if value_range is not None else robust_range(values, valid, percentiles)
    scaled = np.clip((values - low) / max(high - low, 1e-12), 0, 1)
    scaled = np.nan_to_num(scaled, nan=0.0)
    color = cv2.applyColorMap(np.round(scaled * 255).astype(np.uint8), _colormap_id(colormap))
    color = np.ascontiguousarray(color[..., ::-1])
    if valid is not None:
        color[~np.asarray(valid, dtype=bool)] = 0
    return color


def to_bgr(image: np.ndarray) -> np.ndarray:
    """RGB <-> BGR (OpenCV's order for ``cv2.imwrite``)."""
    return np.ascontiguousarray(image[..., ::-1])


def _font_scale(width: int) -> float:
    return float(np.clip(width / 260, 0.3, 0.5))


def _put_text(
    image: np.ndarray, text: str, origin: Tuple[int, int], scale: float, align: str = 'left'
) -> None:
    (text_w, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = origin
    if align == 'right':
        x = max(x - text_w, 0)
    elif align == 'center':
        x = max(x - text_w // 2, 0)
    cv2.putText(
        image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
    )


def _format(value: float) -> str:
    return f'{value:.3g}'


def colour_bar(
    width: int,
    value_range: Tuple[float, float],
    colormap: Colormap = 'inferno',
    height: int = BAR_HEIGHT,
) -> np.ndarray:
    """A horizontal colour bar with its low, middle and high values written under it.

    Args:
        width (int): its width (px), usually the panel's.
        value_range (tuple): (low, high), the range the panel was coloured with.
        colormap (str | int): the panel's colormap.
        height (int): total height (px): the bar takes the top third.

    Returns:
        ndarray: RGB uint8 (height, width, 3) on black.
    """
    strip = np.zeros((height, width, 3), np.uint8)
    ramp = np.linspace(0.0, 1.0, width)[None].repeat(max(height // 3, 2), 0)
    strip[: ramp.shape[0]] = colorize(ramp, value_range=(0.0, 1.0), colormap=colormap)
    low, high = value_range
    scale = _font_scale(width) * 0.8
    baseline = height - 4
    _put_text(strip, _format(low), (4, baseline), scale)
    _put_text(strip, _format(high), (width - 4, baseline), scale, align='right')
    if width >= 120:
        _put_text(strip, _format((low + high) / 2), (width // 2, baseline), scale, align='center')
    return strip


def labelled_panel(
    image: np.ndarray,
    title: str,
    value_range: Optional[Tuple[float, float]] = None,
    colormap: Colormap = 'inferno',
) -> np.ndarray:
    """A panel: its title above the image, its colour bar below (blank without a range).

    Args:
        image (ndarray): RGB uint8 (H, W, 3).
        title (str): e.g. ``'RGB'``, ``'teacher'``, ``'student'``, ``'error'``.
        value_range (tuple, optional): the (low, high) the image was coloured with;
            None (an RGB image) leaves the bar strip black, so that panels of a row
            keep one height.
        colormap (str | int): the image's colormap.

    Returns:
        ndarray: RGB uint8 (TITLE_HEIGHT + H + BAR_HEIGHT, W, 3).
    """
    height, width = image.shape[:2]
    title_strip = np.zeros((TITLE_HEIGHT, width, 3), np.uint8)
    _put_text(title_strip, title, (3, TITLE_HEIGHT - 5), _font_scale(width))
    bar = (
        colour_bar(width, value_range, colormap)
        if value_range is not None
        else np.zeros((BAR_HEIGHT, width, 3), np.uint8)
    )
    return np.concatenate([title_strip, image, bar], axis=0)


def panel_row(
    panels: Sequence[Tuple[np.ndarray, str, Optional[Tuple[float, float]], Colormap]],
    caption: Optional[str] = None,
) -> np.ndarray:
    """Labelled panels side by side, with an optional caption strip above the row.

    Args:
        panels: ``(image, title, value_range, colormap)`` per panel, images of one
            height (RGB uint8 (H, W_i, 3)).
        caption (str, optional): a line above the row (e.g. the image's name and
            error).

    Returns:
        ndarray: RGB uint8 (H + TITLE_HEIGHT + BAR_HEIGHT [+ TITLE_HEIGHT], sum W_i, 3).
    """
    row = np.concatenate(
        [labelled_panel(image, title, rng, cmap) for image, title, rng, cmap in panels], axis=1
    )
    if caption is None:
        return row
    strip = np.zeros((TITLE_HEIGHT, row.shape[1], 3), np.uint8)
    _put_text(strip, caption, (3, TITLE_HEIGHT - 5), _font_scale(row.shape[1]))
    return np.concatenate([strip, row], axis=0)
