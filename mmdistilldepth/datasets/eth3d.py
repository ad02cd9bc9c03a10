"""The ETH3D benchmark reader (the table of layouts is in :mod:`.benchmarks`)."""

from __future__ import annotations

import os.path as osp
from typing import List, Optional

from mmdistilldepth.registry import DATASETS

from .base_depth_dataset import BaseDepthBenchmark, relative_glob


@DATASETS.register_module()
class ETH3DDataset(BaseDepthBenchmark):
    """ETH3D high-resolution multi-view training DSLR images (454, 4032x6048).

    The depth file is headerless float32 at the image's resolution, named like the
    image (``.JPG``); decode it with ``LoadDepthAnnotation(format='raw_float32')``.
    """

    METAINFO = dict(benchmark='eth3d')
    LAYOUT = (
        'rgb/<scene>/images/dslr_images/<name>.JPG + '
        'depth/<scene>_dslr_depth/<scene>/ground_truth_depth/dslr_images/<name>.JPG'
    )

    def parse_line(self, tokens: List[str]) -> Optional[dict]:
        return dict(img_path=tokens[0], depth_path=tokens[1])

    def scan_layout(self) -> List[dict]:
        entries = []
        pattern = osp.join('rgb', '*', 'images', 'dslr_images', '*')
        for rgb in relative_glob(self.data_root, pattern):
            scene, name = rgb.split(osp.sep)[1], osp.basename(rgb)
            depth = osp.join(
                'depth', f'{scene}_dslr_depth', scene, 'ground_truth_depth', 'dslr_images', name
            )
            entries.append(dict(img_path=rgb, depth_path=depth))
        return entries
