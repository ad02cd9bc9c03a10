"""Data transforms: loading, geometric, packing (registered in TRANSFORMS)."""

from .formatting import PackDepthInputs
from .geometric import KBCrop, ResizeForDepthModel, kb_crop_box
from .loading import LoadDepthAnnotation, LoadRGBImage, read_npy_depth, read_raw_float32_depth
from .midas_resize import ResizeForMiDaS

__all__ = [
    'PackDepthInputs',
    'KBCrop',
    'ResizeForDepthModel',
    'kb_crop_box',
    'LoadDepthAnnotation',
    'LoadRGBImage',
    'read_npy_depth',
    'read_raw_float32_depth',
    'ResizeForMiDaS',
]
