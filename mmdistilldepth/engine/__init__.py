from .checkpoint_io import AtomicLocalBackend, atomic_write_bytes, atomic_write_text  # noqa: F401
from .distributed import (  # noqa: F401
    init_restarted_group,
    setup_cpu_distributed,
    teardown_distributed,
)
from .fsdp import ShardedClipOptimWrapper, vit_block_auto_wrap_policy  # noqa: F401
from .hooks import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
from .runner import *  # noqa: F401,F403


def __getattr__(name: str):
    # The loading-side checks live in mmdistilldepth.models.checkpoint_loading (the one
    # home of checkpoint loading); lazy, so that importing the engine imports no model.
    if name in ('check_checkpoint_safe', 'latest_checkpoint', 'unsafe_globals'):
        from mmdistilldepth.models import checkpoint_loading

        return getattr(checkpoint_loading, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
