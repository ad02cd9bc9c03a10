"""mmdistilldepth/datasets/transforms/formatting.py: packing model inputs."""

import numpy as np
import torch

from mmdistilldepth.datasets.transforms import PackDepthInputs


def test_pack_depth_inputs():
    img = np.random.default_rng(1).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    depth = np.ones((6, 8), np.float32)
    mask = np.zeros((6, 8), bool)
    packed = PackDepthInputs(meta_keys=('kb_crop',))(
        dict(
            img=img,
            gt_depth=depth,
            gt_valid_mask=mask,
            img_path='x.png',
            ori_shape=(6, 8),
            img_shape=(6, 8),
            benchmark='diode',
            kb_crop=(1, 2),
            sample_idx=4,
            unrelated=1,
        )
    )
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 6, 8)
    assert torch.equal(inputs, torch.from_numpy(img).permute(2, 0, 1))
    assert sample.gt_depth.data.shape == (1, 6, 8)
    assert sample.gt_valid_mask.data.dtype == torch.bool
    assert sample.metainfo == dict(
        img_path='x.png',
        ori_shape=(6, 8),
        img_shape=(6, 8),
        benchmark='diode',
        kb_crop=(1, 2),
        sample_idx=4,
    )
    floats = PackDepthInputs()(dict(img=img.astype(np.float32) / 255))['inputs']
    assert floats.dtype == torch.float32
