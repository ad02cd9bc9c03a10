from .checkpoint_io import (AtomicLocalBackend, atomic_write_bytes, atomic_write_text,
                            check_checkpoint_safe, latest_checkpoint)
from .distributed import setup_cpu_distributed, teardown_distributed
from .hooks import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
from .runner import *  # noqa: F401,F403
