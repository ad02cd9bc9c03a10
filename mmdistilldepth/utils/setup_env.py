"""Registration helpers for tools and scripts."""

import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every module that registers a component and set the default scope.

    Args:
        init_default_scope (bool): Whether to make ``mmdistilldepth`` the current
            default scope so that configs can name components without a prefix.
    """
    import mmdistilldepth.datasets  # noqa: F401
    import mmdistilldepth.engine  # noqa: F401
    import mmdistilldepth.evaluation  # noqa: F401
    import mmdistilldepth.models  # noqa: F401
    import mmdistilldepth.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != 'mmdistilldepth':
        if current is not None:
            warnings.warn(
                f'The current default scope "{current.scope_name}" is not '
                '"mmdistilldepth"; a new default scope is created.'
            )
        name = f'mmdistilldepth-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='mmdistilldepth')
