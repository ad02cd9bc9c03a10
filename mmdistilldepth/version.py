"""The package version, and the versions of its core dependencies it supports."""

from typing import Optional

__version__ = '0.1.0'

#: ``(minimum, maximum)`` of each core dependency, checked at import as OpenMMLab
#: packages do (maximum excluded; None: no known break). Must agree with
#: requirements/runtime.txt (a test checks it).
SUPPORTED_VERSIONS = {
    'mmengine': ('0.10.0', '1.0.0'),
    'torch': ('2.5', None),
}


def check_version(name: str, installed: str, minimum: str, maximum: Optional[str]) -> None:
    """Raise ImportError when ``installed`` is outside ``[minimum, maximum)``.

    Raises:
        ImportError: naming the package, the installed version, the required range
            and the pip command that fixes it.
    """
    from mmengine.utils import digit_version  # handles '2.14.1+cu130', 'rc', 'dev'

    have = digit_version(installed)
    if have >= digit_version(minimum) and (maximum is None or have < digit_version(maximum)):
        return
    required = f'>={minimum}' + (f',<{maximum}' if maximum else '')
    raise ImportError(
        f'mmdistilldepth {__version__} needs {name}{required}, but {name} {installed} is '
        f'installed: pip install "{name}{required}"'
    )


def check_dependencies() -> None:
    """Check the installed mmengine and torch against :data:`SUPPORTED_VERSIONS`."""
    import mmengine
    import torch

    for module in (mmengine, torch):
        minimum, maximum = SUPPORTED_VERSIONS[module.__name__]
        check_version(module.__name__, module.__version__, minimum, maximum)
