"""MMEngine metrics wired to :mod:`mmdistilldepth.evaluation.functional`."""

from .affine_invariant_depth_metric import AffineInvariantDepthMetric
from .benchmark_report import TABLE_COLUMNS, markdown_table

__all__ = ['AffineInvariantDepthMetric', 'TABLE_COLUMNS', 'markdown_table']
