from .cli import (
    UserInputError,
    add_runner_args,
    check_file,
    load_config,
    one_line_errors,
    parse_runner_args,
)
from .setup_env import register_all_modules

__all__ = [
    'allow_mmengine_checkpoints',
    'register_all_modules',
    'UserInputError',
    'check_file',
    'load_config',
    'one_line_errors',
    'add_runner_args',
    'parse_runner_args',
]


def __getattr__(name: str):
    # Lazy: the allow-list lives in mmdistilldepth.models (which imports this package).
    if name == 'allow_mmengine_checkpoints':
        from mmdistilldepth.models.checkpoint_loading import allow_mmengine_checkpoints

        return allow_mmengine_checkpoints
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
