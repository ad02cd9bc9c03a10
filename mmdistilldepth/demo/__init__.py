"""A local web demo (``tools/demo.py``): depth for one's own images, in a browser.

``core`` and ``backend`` are plain Python (tested without a server); ``app`` builds
the Gradio page and imports gradio, the optional extra ``demo``
(``pip install "mmdistilldepth[demo]"``), so it is imported only when serving.
"""

from .core import DemoInputError, DemoModel, newest_checkpoint, read_upload

__all__ = ['DemoInputError', 'DemoModel', 'newest_checkpoint', 'read_upload']
