"""mmdistilldepth/datasets/synthetic_benchmarks.py: the synthetic NYUv2 stand-in."""

import os
import os.path as osp

import pytest

from mmdistilldepth.datasets.synthetic_benchmarks import SyntheticNYUv2


def test_synthetic_nyuv2_writes_once_and_never_touches_foreign_folders(tmp_path):
    data_root = str(tmp_path / 'synthetic_nyu')
    dataset = SyntheticNYUv2(data_root, num_samples=2, seed=3, height=48, width=64)
    assert len(dataset) == 2 and dataset.metainfo['benchmark'] == 'nyu'
    stamp = os.stat(osp.join(data_root, 'synthetic.json')).st_mtime_ns
    SyntheticNYUv2(data_root, num_samples=2, seed=3, height=48, width=64)
    assert os.stat(osp.join(data_root, 'synthetic.json')).st_mtime_ns == stamp
    assert len(SyntheticNYUv2(data_root, num_samples=3, seed=3, height=48, width=64)) == 3
    foreign = tmp_path / 'real_nyu'
    foreign.mkdir()
    (foreign / 'keep.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='synthetic.json'):
        SyntheticNYUv2(str(foreign))
    assert (foreign / 'keep.txt').read_text() == 'mine'
