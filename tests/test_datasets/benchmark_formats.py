"""The five benchmark layouts the dataset tests write, and the transforms that load them."""

from mmdistilldepth.datasets import (
    DIODEDataset,
    ETH3DDataset,
    KITTIEigenDataset,
    NYUv2Dataset,
    ScanNetDataset,
)

#: format -> (reader, size written, render scale)
FORMATS = {
    'nyu': (NYUv2Dataset, (120, 160), 1),
    'kitti': (KITTIEigenDataset, (375, 1242), 6),
    'eth3d': (ETH3DDataset, (60, 90), 1),
    'diode': (DIODEDataset, (48, 64), 1),
    'scannet': (ScanNetDataset, (60, 80), 1),
}
#: format -> the loading transforms of its pipeline (no resizing, no packing)
LOAD_ONLY = {
    fmt: [dict(type='LoadRGBImage'), dict(type='LoadDepthAnnotation', format=fmt)]
    for fmt in FORMATS
}
LOAD_ONLY['kitti'].append(dict(type='KBCrop'))
