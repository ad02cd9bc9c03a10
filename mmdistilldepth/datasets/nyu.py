"""The NYUv2 benchmark reader (the table of layouts is in :mod:`.benchmarks`)."""

from __future__ import annotations

import os.path as osp
from typing import List, Optional

from mmdistilldepth.registry import DATASETS

from .base_depth_dataset import BaseDepthBenchmark, relative_glob


@DATASETS.register_module()
class NYUv2Dataset(BaseDepthBenchmark):
    """NYUv2 labeled test split (654 images, 480x640), Marigold's extracted layout.

    Without a split list, every ``test/<scene>/rgb_*.png`` with its ``depth_*.png``.
    ``tools/dataset_converters/nyu_mat_to_layout.py`` writes this layout (and the
    list) from the official ``nyu_depth_v2_labeled.mat`` and ``splits.mat``.
    """

    METAINFO = dict(benchmark='nyu')
    LAYOUT = 'test/<scene>/rgb_XXXX.png + test/<scene>/depth_XXXX.png (uint16, mm)'
    LINE_FORMAT = "'test/<scene>/rgb_XXXX.png test/<scene>/depth_XXXX.png [filled]'"
    CONVERTER = 'tools/dataset_converters/nyu_mat_to_layout.py'

    def parse_line(self, tokens: List[str]) -> Optional[dict]:
        return dict(img_path=tokens[0], depth_path=tokens[1])

    def scan_layout(self) -> List[dict]:
        entries = []
        for rgb in relative_glob(self.data_root, osp.join('test', '*', 'rgb_*.png')):
            folder, name = osp.split(rgb)
            entries.append(
                dict(img_path=rgb, depth_path=osp.join(folder, 'depth_' + name[len('rgb_') :]))
            )
        return entries
