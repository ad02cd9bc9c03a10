"""mmdistilldepth/datasets/base_depth_dataset.py through every benchmark reader:
samples, config pipelines and the errors for missing data, on the synthetic layouts.
"""

import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdistilldepth.datasets import KITTIEigenDataset, NYUv2Dataset, ScanNetDataset
from mmdistilldepth.registry import DATASETS
from tests.conftest import REPO_ROOT
from tests.test_datasets.benchmark_formats import FORMATS, LOAD_ONLY

pytestmark = pytest.mark.usefixtures('mdd_default_scope')


@pytest.mark.parametrize('fmt', sorted(FORMATS))
@pytest.mark.parametrize('use_list', [True, False])
def test_reader_samples(layouts, fmt, use_list):
    data_root, split = layouts[fmt]
    reader = FORMATS[fmt][0]
    dataset = DATASETS.build(
        dict(
            type=reader.__name__,
            data_root=data_root,
            ann_file=osp.basename(split) if use_list else '',
            pipeline=LOAD_ONLY[fmt],
        )
    )
    assert len(dataset) == 3
    assert dataset.metainfo['benchmark'] == fmt
    paths = set()
    for i in range(len(dataset)):
        sample = dataset[i]
        img, depth = sample['img'], sample['gt_depth']
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert depth.dtype == np.float32 and depth.shape == img.shape[:2]
        assert sample['benchmark'] == fmt and osp.isfile(sample['img_path'])
        assert (depth >= 0).all() and (depth > 0).any()
        paths.add(sample['img_path'])
        if fmt == 'diode':
            assert sample['gt_valid_mask'].dtype == bool
            assert sample['gt_valid_mask'].shape == depth.shape
        else:
            assert 'gt_valid_mask' not in sample
        if fmt == 'kitti':
            assert img.shape[:2] == (352, 1216)
    assert len(paths) == 3


@pytest.mark.parametrize('fmt', sorted(FORMATS))
def test_config_pipelines_pack_model_inputs(layouts, fmt):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', f'{fmt}.py'))
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.data_root, split = layouts[fmt]
    dataset_cfg.ann_file = osp.basename(split)
    assert cfg.test_evaluator.benchmark == fmt
    dataset = DATASETS.build(dataset_cfg)
    packed = dataset[0]
    sample = packed['data_samples']
    assert packed['inputs'].dtype == torch.float32 and packed['inputs'].shape[0] == 3
    assert all(side % 14 == 0 for side in packed['inputs'].shape[1:])
    assert sample.benchmark == fmt and sample.gt_depth.data.ndim == 3
    assert ('gt_valid_mask' in sample) == (fmt == 'diode')


def test_missing_things_fail_with_the_name_and_a_fix(layouts, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data_root '.*nowhere'.*nyu_mat_to_layout"):
        NYUv2Dataset(str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match='no samples found'):
        ScanNetDataset(str(tmp_path))
    data_root, split = layouts['nyu']
    with pytest.raises(FileNotFoundError, match='split list .*nope.txt'):
        NYUv2Dataset(data_root, ann_file='nope.txt')
    broken = tmp_path / 'list.txt'
    broken.write_text('test/a/rgb_0001.png test/a/depth_0001.png\n')
    with pytest.raises(FileNotFoundError, match=r'2 file\(s\).*rgb_0001.png'):
        NYUv2Dataset(data_root, ann_file=str(broken))
    broken.write_text('only_one_token.png\n')
    with pytest.raises(ValueError, match='list.txt:1'):
        NYUv2Dataset(data_root, ann_file=str(broken))
    with pytest.raises(ValueError, match='eval_crop'):
        KITTIEigenDataset(layouts['kitti'][0], eval_crop='center')
