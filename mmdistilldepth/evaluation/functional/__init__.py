"""Pure-torch building blocks of depth evaluation (per image, any device)."""

from .alignment import (
    ALIGNMENT_MODES,
    NoValidPixelError,
    align_depth,
    align_values,
    apply_alignment,
    fit_scale_shift,
    fit_scale_shift_batched,
    fit_subsample_scale,
    fit_target,
    subsample_for_fit,
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
