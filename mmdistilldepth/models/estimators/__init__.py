from .depth_anything_v2 import DAV2_HEADS, DepthAnythingV2

__all__ = ['DAV2_HEADS', 'DepthAnythingV2']
