"""mmdistilldepth: cross-context distillation of monocular depth models.

Importing the package changes no global state: torch's ``weights_only`` allow-list
for MMEngine's checkpoints is extended where checkpoints are loaded
(:func:`mmdistilldepth.models.checkpoint_loading.allow_mmengine_checkpoints`).
"""

from .version import __version__

__all__ = ['__version__']

from .version import check_dependencies  # noqa: E402

# mmengine and torch versions in the supported ranges, or one clear ImportError
check_dependencies()
