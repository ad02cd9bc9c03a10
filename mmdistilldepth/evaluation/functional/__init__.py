"""Pure-torch building blocks of depth evaluation (per image, any device)."""

from .alignment import (
    ALIGNMENT_MODES,
    PRED_SPACES,
    NoValidPixelError,
    align_depth,
    align_values,
    apply_alignment,
    fit_median_scale,
    fit_scale_shift,
    fit_scale_shift_batched,
    fit_subsample_scale,
    fit_target,
    median_value,
    subsample_for_fit,
    to_alignment_space,
)
from .depth_metrics import METRIC_NAMES, depth_error_metrics, depth_error_metrics_of_values
from .evaluate import AlignedDepth, align_to_benchmark, evaluate_depth
from .protocols import (
    BENCHMARK_PROTOCOLS,
    BenchmarkProtocol,
    benchmark_valid_mask,
    crop_mask,
    get_protocol,
)

__all__ = [
    'ALIGNMENT_MODES',
    'PRED_SPACES',
    'fit_median_scale',
    'median_value',
    'to_alignment_space',
    'NoValidPixelError',
    'align_depth',
    'align_values',
    'apply_alignment',
    'fit_scale_shift',
    'fit_scale_shift_batched',
    'fit_subsample_scale',
    'fit_target',
    'subsample_for_fit',
    'METRIC_NAMES',
    'depth_error_metrics',
    'depth_error_metrics_of_values',
    'AlignedDepth',
    'align_to_benchmark',
    'evaluate_depth',
    'BENCHMARK_PROTOCOLS',
    'BenchmarkProtocol',
    'benchmark_valid_mask',
    'crop_mask',
    'get_protocol',
]
