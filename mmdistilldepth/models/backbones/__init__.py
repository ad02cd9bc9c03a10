from .dinov2_vit import DINOV2_ARCHS, DINOv2ViT, SwiGLUFFN, resolve_arch
from .pos_embed import bicubic_matrix, interpolate_pos_embed_dav2, interpolate_pos_embed_traceable

__all__ = [
    'DINOV2_ARCHS',
    'DINOv2ViT',
    'SwiGLUFFN',
    'bicubic_matrix',
    'interpolate_pos_embed_dav2',
    'interpolate_pos_embed_traceable',
    'resolve_arch',
]
