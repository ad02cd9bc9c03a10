from .checkpoint_compat import allow_mmengine_checkpoints
from .cli import (UserInputError, add_runner_args, check_file, load_config, one_line_errors,
                  parse_runner_args)
from .setup_env import register_all_modules

__all__ = ['allow_mmengine_checkpoints', 'register_all_modules', 'UserInputError',
           'check_file', 'load_config', 'one_line_errors', 'add_runner_args',
           'parse_runner_args']
