"""The ScanNet benchmark reader (the table of layouts is in :mod:`.benchmarks`)."""

from __future__ import annotations

import os.path as osp
from typing import List, Optional

from mmdistilldepth.registry import DATASETS

from .base_depth_dataset import BaseDepthBenchmark, relative_glob


@DATASETS.register_module()
class ScanNetDataset(BaseDepthBenchmark):
    """ScanNet validation frames in Marigold's layout (its list samples 800 of them)."""

    METAINFO = dict(benchmark='scannet')
    LAYOUT = '<scene>/color/XXXXXX.jpg + <scene>/depth/XXXXXX.png (uint16, mm)'

    def parse_line(self, tokens: List[str]) -> Optional[dict]:
        return dict(img_path=tokens[0], depth_path=tokens[1])

    def scan_layout(self) -> List[dict]:
        entries = []
        for rgb in relative_glob(self.data_root, osp.join('*', 'color', '*.jpg')):
            scene, _, name = rgb.split(osp.sep)
            entries.append(
                dict(
                    img_path=rgb,
                    depth_path=osp.join(scene, 'depth', osp.splitext(name)[0] + '.png'),
                )
            )
        return entries
