"""MMEngine metrics wired to :mod:`mmdistilldepth.evaluation.functional`."""
from .affine_invariant_depth_metric import AffineInvariantDepthMetric

__all__ = ['AffineInvariantDepthMetric']
