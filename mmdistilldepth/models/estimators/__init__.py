from .depth_anything_v2 import DAV2_HEADS, DepthAnythingV2
from .midas import MIDAS_MODELS, MiDaS, midas_input_size
from .supervised_depth_estimator import SupervisedDepthEstimator

__all__ = [
    'DAV2_HEADS',
    'DepthAnythingV2',
    'MIDAS_MODELS',
    'MiDaS',
    'midas_input_size',
    'SupervisedDepthEstimator',
]
