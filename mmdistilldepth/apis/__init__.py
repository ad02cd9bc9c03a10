from .inference import inference_depth, init_model
from .preprocessing import dav2_input_size, prepare_dav2_input

__all__ = ['dav2_input_size', 'inference_depth', 'init_model', 'prepare_dav2_input']
