"""Readers of the five zero-shot benchmarks, in the community (Marigold) on-disk layouts.

Each reader lists samples (``img_path``, ``depth_path`` and, for DIODE, ``mask_path``);
the pipeline decodes them (``configs/_base_/datasets/<benchmark>.py``):

=========  ==============================================  =============================
reader     layout under ``data_root``                      depth file
=========  ==============================================  =============================
NYUv2      ``test/<scene>/rgb_XXXX.png``,                  uint16 PNG, mm (/1000)
           ``test/<scene>/depth_XXXX.png``
KITTI      ``<date>/<drive>/image_02/data/<frame>.png``,   uint16 PNG (/256); image and
           ``<drive>/proj_depth/groundtruth/image_02/``    GT KB-cropped to 352x1216
ETH3D      ``rgb/<scene>/images/dslr_images/DSC_X.JPG``,   raw float32, image's HxW,
           ``depth/<scene>_dslr_depth/<scene>/``           +inf = missing
           ``ground_truth_depth/dslr_images/DSC_X.JPG``
DIODE      ``{indoors,outdoor}/scene_X/scan_X/<name>.png``  ``<name>_depth.npy`` and
                                                           ``<name>_depth_mask.npy``
ScanNet    ``<scene>/color/XXXXXX.jpg``,                   uint16 PNG, mm (/1000)
           ``<scene>/depth/XXXXXX.png``
=========  ==============================================  =============================

Split lists are Marigold's ``data_split`` files: one sample per line, paths relative
to ``data_root`` (NYUv2 ``filename_list_test.txt``: ``rgb depth filled``; KITTI
``eigen_test_files_with_gt.txt``: ``rgb depth|None focal``; ETH3D
``eth3d_filename_list.txt``: ``rgb depth``; DIODE ``diode_val_all_filename_list.txt``:
``rgb depth mask``; ScanNet ``scannet_val_sampled_list_800_1.txt``: ``rgb depth``).
"""
from __future__ import annotations

import glob
import os.path as osp
from typing import List, Optional

from mmdistilldepth.registry import DATASETS
from .base_depth_dataset import BaseDepthBenchmark


def _relative_glob(root: str, pattern: str) -> List[str]:
    return sorted(osp.relpath(p, root) for p in glob.glob(osp.join(root, pattern)))


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
        for rgb in _relative_glob(self.data_root, osp.join('test', '*', 'rgb_*.png')):
            folder, name = osp.split(rgb)
            entries.append(dict(img_path=rgb,
                                depth_path=osp.join(folder, 'depth_' + name[len('rgb_'):])))
        return entries


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
    LAYOUT = ('<date>/<drive>/image_02/data/<frame>.png + '
              '<drive>/proj_depth/groundtruth/image_02/<frame>.png (uint16, /256)')
    LINE_FORMAT = ("'<date>/<drive>/image_02/data/<frame>.png "
                   "<drive>/proj_depth/...png|None [focal]'")
    CONVERTER = 'tools/dataset_converters/kitti_to_layout.py'
    EVAL_CROPS = ('eigen', 'garg')

    def __init__(self, data_root: str, ann_file: str = '', eval_crop: str = 'eigen',
                 **kwargs) -> None:
        if eval_crop not in self.EVAL_CROPS:
            raise ValueError(f'KITTIEigenDataset: eval_crop must be one of {self.EVAL_CROPS}, '
                             f'got {eval_crop!r}')
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
        for rgb in _relative_glob(self.data_root, pattern):
            drive = rgb.split(osp.sep)[1]
            depth = osp.join(drive, 'proj_depth', 'groundtruth', 'image_02', osp.basename(rgb))
            if osp.isfile(osp.join(self.data_root, depth)):
                entries.append(dict(img_path=rgb, depth_path=depth))
        return entries


@DATASETS.register_module()
class ETH3DDataset(BaseDepthBenchmark):
    """ETH3D high-resolution multi-view training DSLR images (454, 4032x6048).

    The depth file is headerless float32 at the image's resolution, named like the
    image (``.JPG``); decode it with ``LoadDepthAnnotation(format='raw_float32')``.
    """

    METAINFO = dict(benchmark='eth3d')
    LAYOUT = ('rgb/<scene>/images/dslr_images/<name>.JPG + '
              'depth/<scene>_dslr_depth/<scene>/ground_truth_depth/dslr_images/<name>.JPG')

    def parse_line(self, tokens: List[str]) -> Optional[dict]:
        return dict(img_path=tokens[0], depth_path=tokens[1])

    def scan_layout(self) -> List[dict]:
        entries = []
        pattern = osp.join('rgb', '*', 'images', 'dslr_images', '*')
        for rgb in _relative_glob(self.data_root, pattern):
            scene, name = rgb.split(osp.sep)[1], osp.basename(rgb)
            depth = osp.join('depth', f'{scene}_dslr_depth', scene, 'ground_truth_depth',
                             'dslr_images', name)
            entries.append(dict(img_path=rgb, depth_path=depth))
        return entries


@DATASETS.register_module()
class DIODEDataset(BaseDepthBenchmark):
    """DIODE validation set (771 images, 768x1024, indoors and outdoor).

    Depth ``<name>_depth.npy`` (H, W, 1) float32 and mask ``<name>_depth_mask.npy``;
    the mask is the valid mask of the protocol, used as is.
    """

    METAINFO = dict(benchmark='diode')
    LAYOUT = ('{indoors,outdoor}/scene_*/scan_*/<name>.png + <name>_depth.npy + '
              '<name>_depth_mask.npy')
    LINE_FORMAT = "'<name>.png <name>_depth.npy <name>_depth_mask.npy'"

    def parse_line(self, tokens: List[str]) -> Optional[dict]:
        return dict(img_path=tokens[0], depth_path=tokens[1], mask_path=tokens[2])

    def scan_layout(self) -> List[dict]:
        entries = []
        for rgb in _relative_glob(self.data_root, osp.join('*', '*', '*', '*.png')):
            stem = rgb[:-len('.png')]
            entries.append(dict(img_path=rgb, depth_path=stem + '_depth.npy',
                                mask_path=stem + '_depth_mask.npy'))
        return entries


@DATASETS.register_module()
class ScanNetDataset(BaseDepthBenchmark):
    """ScanNet validation frames in Marigold's layout (its list samples 800 of them)."""

    METAINFO = dict(benchmark='scannet')
    LAYOUT = '<scene>/color/XXXXXX.jpg + <scene>/depth/XXXXXX.png (uint16, mm)'

    def parse_line(self, tokens: List[str]) -> Optional[dict]:
        return dict(img_path=tokens[0], depth_path=tokens[1])

    def scan_layout(self) -> List[dict]:
        entries = []
        for rgb in _relative_glob(self.data_root, osp.join('*', 'color', '*.jpg')):
            scene, _, name = rgb.split(osp.sep)
            entries.append(dict(img_path=rgb, depth_path=osp.join(
                scene, 'depth', osp.splitext(name)[0] + '.png')))
        return entries


__all__ = ['NYUv2Dataset', 'KITTIEigenDataset', 'ETH3DDataset', 'DIODEDataset',
           'ScanNetDataset']
