"""The KITTI (Eigen split) benchmark reader (the table of layouts is in :mod:`.benchmarks`)."""

from __future__ import annotations

import os.path as osp
from typing import List, Optional

from mmdistilldepth.registry import DATASETS

from .base_depth_dataset import BaseDepthBenchmark, relative_glob


@DATASETS.register_module()
class KITTIEigenDataset(BaseDepthBenchmark):
    """KITTI Eigen test split with the annotated (KITTI depth benchmark) ground truth.

    Lines ``<date>/<drive>/image_02/data/<frame>.png
    <drive>/proj_depth/groundtruth/image_02/<frame>.png <focal>``; lines whose depth
    is ``None`` (Eigen frames without annotated GT) are left out, leaving 652 of 697.
    Without a list, every left-camera frame that has annotated GT (not only the Eigen
    split: write the list with ``tools/dataset_converters/kitti_to_layout.py``).
    Put ``KBCrop`` after the loading transforms.

    Args:
        eval_crop (str): ``'eigen'`` (the default of the protocol) or ``'garg'``;
            stored in the metainfo, where the metric reads it.
    """

    METAINFO = dict(benchmark='kitti')
    LAYOUT = (
        '<date>/<drive>/image_02/data/<frame>.png + '
        '<drive>/proj_depth/groundtruth/image_02/<frame>.png (uint16, /256)'
    )
    LINE_FORMAT = (
        "'<date>/<drive>/image_02/data/<frame>.png <drive>/proj_depth/...png|None [focal]'"
    )
    CONVERTER = 'tools/dataset_converters/kitti_to_layout.py'
    EVAL_CROPS = ('eigen', 'garg')

    def __init__(
        self, data_root: str, ann_file: str = '', eval_crop: str = 'eigen', **kwargs
    ) -> None:
        if eval_crop not in self.EVAL_CROPS:
            raise ValueError(
                f'KITTIEigenDataset: eval_crop must be one of {self.EVAL_CROPS}, got {eval_crop!r}'
            )
        super().__init__(data_root, ann_file, **kwargs)
        # Set after loading: mmengine would try to read a string metainfo as a file.
        self._metainfo['eval_crop'] = f'kitti_{eval_crop}'

    def parse_line(self, tokens: List[str]) -> Optional[dict]:
        if tokens[1] == 'None':
            return None
        return dict(img_path=tokens[0], depth_path=tokens[1])

    def scan_layout(self) -> List[dict]:
        entries = []
        pattern = osp.join('*', '*_sync', 'image_02', 'data', '*.png')
        for rgb in relative_glob(self.data_root, pattern):
            drive = rgb.split(osp.sep)[1]
            depth = osp.join(drive, 'proj_depth', 'groundtruth', 'image_02', osp.basename(rgb))
            if osp.isfile(osp.join(self.data_root, depth)):
                entries.append(dict(img_path=rgb, depth_path=depth))
        return entries
