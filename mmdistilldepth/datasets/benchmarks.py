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

One file per benchmark (``nyu.py``, ``kitti.py``, ``eth3d.py``, ``diode.py``,
``scannet.py``); this module re-exports them.
"""

from .diode import DIODEDataset
from .eth3d import ETH3DDataset
from .kitti import KITTIEigenDataset
from .nyu import NYUv2Dataset
from .scannet import ScanNetDataset

__all__ = ['NYUv2Dataset', 'KITTIEigenDataset', 'ETH3DDataset', 'DIODEDataset', 'ScanNetDataset']
