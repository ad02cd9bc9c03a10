from .contexts import (
    DepthContexts,
    argsort_rows,
    build_contexts,
    global_contexts,
    masked_sort,
    quantile_contexts,
    range_contexts,
    sorted_quantile,
    spatial_contexts,
)
from .feature_alignment_loss import FeatureAlignmentLoss, feature_alignment_loss
from .gradient_matching_loss import GradientMatchingLoss, gradient_matching_loss
from .normalization import (
    context_shift_scale,
    global_normalize,
    hybrid_normalize,
    normalize_flat,
    normalize_in_contexts,
)
from .normalized_l1_loss import NormalizedL1Loss, normalized_l1_loss

__all__ = [
    'DepthContexts',
    'argsort_rows',
    'build_contexts',
    'global_contexts',
    'masked_sort',
    'quantile_contexts',
    'range_contexts',
    'sorted_quantile',
    'spatial_contexts',
    'context_shift_scale',
    'global_normalize',
    'hybrid_normalize',
    'normalize_flat',
    'normalize_in_contexts',
    'NormalizedL1Loss',
    'normalized_l1_loss',
    'GradientMatchingLoss',
    'gradient_matching_loss',
    'FeatureAlignmentLoss',
    'feature_alignment_loss',
]
from .silog_loss import SiLogLoss, silog_loss  # noqa: F401,E402  (metric fine-tuning)
