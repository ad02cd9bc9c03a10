"""mmdistilldepth: cross-context distillation of monocular depth models."""
from .utils.checkpoint_compat import allow_mmengine_checkpoints
from .version import __version__

# mmengine 0.10.7 pickles a few of its own classes into checkpoints; torch >= 2.6
# loads with ``weights_only=True`` and refuses them. Allow-list exactly those.
allow_mmengine_checkpoints()

__all__ = ['__version__']

from .version import check_dependencies  # noqa: E402

# mmengine and torch versions in the supported ranges, or one clear ImportError
check_dependencies()
