from .cross_context_distiller import CrossContextDistiller, crop_resize

__all__ = ['CrossContextDistiller', 'crop_resize']
