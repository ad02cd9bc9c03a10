"""Optional dependencies (pip extras), imported only where they are used.

``import mmdistilldepth`` and every non-diffusion model need only the runtime
requirements. A part that needs an extra imports it through :func:`require`, which
fails with one line naming the extra to install::

    ImportError: GenPerceptTeacher needs diffusers (not installed): pip install "mmdistilldepth[diffusion]"
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

#: module -> the pip extra that installs it (requirements/<extra>.txt)
EXTRA_OF = {
    'diffusers': 'diffusion',
    'transformers': 'diffusion',
    'scipy': 'diffusion',
    'huggingface_hub': 'hf',
    'onnx': 'export',
    'onnxruntime': 'export',
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


def install_hint(module: str, extra: str = None) -> str:
    """``pip install "mmdistilldepth[diffusion]"`` for ``'diffusers'``."""
    extra = extra or EXTRA_OF.get(module.split('.')[0])
    return f'pip install "mmdistilldepth[{extra}]"' if extra else f'pip install {module}'


def is_available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a None spec
        return False


def require(module: str, what: str, extra: str = None) -> ModuleType:
    """Import an optional ``module`` for ``what``, or fail naming the extra.

    Args:
        module (str): e.g. ``'diffusers'``.
        what (str): the part that needs it, for the message (``'MarigoldTeacher'``).
        extra (str, optional): the pip extra; default :data:`EXTRA_OF` of the module.

    Returns:
        module: the imported module.

    Raises:
        MissingExtraError: one line, ``WHAT needs MODULE (not installed): pip install
            "mmdistilldepth[EXTRA]"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name not in (None, module.split('.')[0], module):
            raise  # the module is there but one of its own imports failed: show that
        raise MissingExtraError(
            f'{what} needs {module.split(".")[0]} (not installed): {install_hint(module, extra)}'
        ) from None
