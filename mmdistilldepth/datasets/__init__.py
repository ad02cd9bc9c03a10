from .base_depth_dataset import BaseDepthBenchmark
from .benchmarks import DIODEDataset, ETH3DDataset, KITTIEigenDataset, NYUv2Dataset, ScanNetDataset
from .depth_folder_dataset import DepthFolderDataset, HypersimDataset, VKITTI2Dataset
from .synthetic_benchmarks import SyntheticNYUv2, write_synthetic_benchmark
from .synthetic_scenes import SyntheticScenes, render_scene
from .transforms import *  # noqa: F401,F403
from .transforms.cross_context_crops import CrossContextCrops
from .transforms.resize_canvas import ResizeCanvas
from .unlabeled_image_dataset import UnlabeledImageDataset, list_images

__all__ = [
    'BaseDepthBenchmark',
    'NYUv2Dataset',
    'KITTIEigenDataset',
    'ETH3DDataset',
    'DIODEDataset',
    'ScanNetDataset',
    'SyntheticNYUv2',
    'write_synthetic_benchmark',
    'SyntheticScenes',
    'render_scene',
    'UnlabeledImageDataset',
    'DepthFolderDataset',
    'HypersimDataset',
    'VKITTI2Dataset',
    'list_images',
    'CrossContextCrops',
    'ResizeCanvas',
]
