from .backbones import *  # noqa: F401,F403
from .data_preprocessor import DepthDataPreprocessor  # noqa: F401
from .distillers import *  # noqa: F401,F403
from .estimators import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .teachers import *  # noqa: F401,F403
