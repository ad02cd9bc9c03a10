"""The DIODE benchmark reader (the table of layouts is in :mod:`.benchmarks`)."""

from __future__ import annotations

import os.path as osp
from typing import List, Optional

from mmdistilldepth.registry import DATASETS

from .base_depth_dataset import BaseDepthBenchmark, relative_glob


@DATASETS.register_module()
class DIODEDataset(BaseDepthBenchmark):
    """DIODE validation set (771 images, 768x1024, indoors and outdoor).

    Depth ``<name>_depth.npy`` (H, W, 1) float32 and mask ``<name>_depth_mask.npy``;
    the mask is the valid mask of the protocol, used as is.
    """

    METAINFO = dict(benchmark='diode')
    LAYOUT = (
        '{indoors,outdoor}/scene_*/scan_*/<name>.png + <name>_depth.npy + <name>_depth_mask.npy'
    )
    LINE_FORMAT = "'<name>.png <name>_depth.npy <name>_depth_mask.npy'"

    def parse_line(self, tokens: List[str]) -> Optional[dict]:
        return dict(img_path=tokens[0], depth_path=tokens[1], mask_path=tokens[2])

    def scan_layout(self) -> List[dict]:
        entries = []
        for rgb in relative_glob(self.data_root, osp.join('*', '*', '*', '*.png')):
            stem = rgb[: -len('.png')]
            entries.append(
                dict(
                    img_path=rgb, depth_path=stem + '_depth.npy', mask_path=stem + '_depth_mask.npy'
                )
            )
        return entries
