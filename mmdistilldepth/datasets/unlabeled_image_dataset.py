"""Unlabeled images for distillation (SA-1B style): a folder, a glob or a list file."""
from __future__ import annotations

import glob
import os
import os.path as osp
from typing import List, Optional

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmdistilldepth.registry import DATASETS
from mmdistilldepth.utils.image_io import UnreadableFileError, read_rgb

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def list_images(source: str) -> List[str]:
    """Resolve a folder (searched recursively), a glob pattern or a list file to paths.

    A list file is a text file with one image path per line (relative paths are
    taken relative to the list file's folder; blank lines and ``#`` comments are
    skipped).

    Raises:
        FileNotFoundError: nothing matches ``source``.
    """
    if osp.isdir(source):
        paths = [osp.join(root, f) for root, _, files in os.walk(source) for f in files
                 if f.lower().endswith(IMAGE_EXTENSIONS)]
    elif osp.isfile(source) and source.lower().endswith(('.txt', '.lst', '.list')):
        base = osp.dirname(osp.abspath(source))
        with open(source, encoding='utf-8') as f:
            lines = [ln.strip() for ln in f]
        paths = [ln if osp.isabs(ln) else osp.join(base, ln)
                 for ln in lines if ln and not ln.startswith('#')]
    elif osp.isfile(source):
        paths = [source]
    else:
        paths = glob.glob(source, recursive=True)
    paths = sorted(paths)
    if not paths:
        raise FileNotFoundError(
            f'no images found at {source!r}: give a folder of images, a glob such as '
            "'data/sa1b/**/*.jpg', or a text file listing one image per line")
    return paths


@DATASETS.register_module()
class UnlabeledImageDataset(BaseDataset):
    """Images without labels; the teacher makes the labels.

    A sample before the pipeline is ``dict(img_path=...)``; the pipeline is expected
    to start by decoding it (``LoadRGBImage``). A file that cannot be read is skipped:
    it is named once in the log with the reason, counted in ``num_skipped``, and
    another sample is drawn in its place, so one bad file never stops a run.

    Args:
        data_root (str): a folder, a glob pattern or a list file.
        pipeline (list): the transforms.
    """

    METAINFO = dict(benchmark='unlabeled')

    def __init__(self, data_root: str, pipeline=(), **kwargs) -> None:
        self.source = data_root
        self.num_skipped = 0
        self._reported: set = set()
        super().__init__(data_root='', pipeline=list(pipeline), **kwargs)

    def load_data_list(self) -> List[dict]:
        return [dict(img_path=p) for p in list_images(self.source)]

    def prepare_data(self, idx: int) -> Optional[dict]:
        info = self.get_data_info(idx)
        try:
            if 'img' not in info:
                info['img'] = read_rgb(info['img_path'])
                info['ori_shape'] = info['img'].shape[:2]
            return self.pipeline(info)
        except UnreadableFileError as exc:
            self.num_skipped += 1
            if exc.path not in self._reported:
                self._reported.add(exc.path)
                print_log(f'skipping unreadable image ({self.num_skipped} skipped so far): {exc}',
                          logger='current', level=30)
            return None  # BaseDataset draws another sample
