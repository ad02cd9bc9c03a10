from .checkpoint_compat import allow_mmengine_checkpoints
from .cli import UserInputError, check_file, load_config, one_line_errors
from .setup_env import register_all_modules

__all__ = ['allow_mmengine_checkpoints', 'register_all_modules', 'UserInputError',
           'check_file', 'load_config', 'one_line_errors']
