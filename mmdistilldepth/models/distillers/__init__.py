from .cross_context_distiller import CrossContextDistiller, crop_resize
from .cross_context_preprocessor import CrossContextDataPreprocessor

__all__ = ['CrossContextDistiller', 'CrossContextDataPreprocessor', 'crop_resize']
