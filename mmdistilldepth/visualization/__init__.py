"""Pictures of depth maps: the one colorizer, labelled panels, visualizer backends."""

from .colormap import (
    COLORMAPS,
    colorize,
    colour_bar,
    labelled_panel,
    panel_row,
    robust_range,
    to_bgr,
)
from .vis_backend import OptionalTensorboardVisBackend

__all__ = [
    'COLORMAPS',
    'colorize',
    'colour_bar',
    'labelled_panel',
    'panel_row',
    'robust_range',
    'to_bgr',
    'OptionalTensorboardVisBackend',
]
