"""UnlabeledImageDataset on a list file of one million paths: fast and compact."""

import os.path as osp
import time

import numpy as np

from mmdistilldepth.datasets import UnlabeledImageDataset


def test_million_path_list_file_is_compact(tmp_path):
    listing = tmp_path / 'sa1b.txt'
    lines = [f'sa_{i % 1000:06d}/sa_{i:08d}.jpg' for i in range(1_000_000)]
    lines[10] = '/abs/elsewhere/x.jpg'
    listing.write_text('# SA-1B subset\n\n' + '\n'.join(reversed(lines)) + '\n')
    start = time.perf_counter()
    dataset = UnlabeledImageDataset(str(listing))
    assert time.perf_counter() - start < 30  # about 1 s on one core; generous bound
    assert len(dataset) == 1_000_000
    # one bytes buffer and one offset array, no per-path Python objects
    assert isinstance(dataset.path_bytes, np.ndarray) and dataset.path_bytes.dtype == np.uint8
    assert dataset.path_offsets.dtype == np.int64
    assert dataset.path_offsets.shape == (1_000_001,)
    assert not hasattr(dataset, 'data_list') or not dataset.data_list
    expected = sorted(lines)
    for idx in (0, 1, 123_456, 999_999):
        info = dataset.get_data_info(idx)
        path = expected[idx]
        assert info['img_path'] == (path if osp.isabs(path) else osp.join(str(tmp_path), path))
        assert info['sample_idx'] == idx
    assert dataset.get_data_info(0)['img_path'] == '/abs/elsewhere/x.jpg'


def test_subsets_by_count_are_nested_and_keep_the_whole_list_index(tmp_path):
    """num_samples (the paper's 50k ablation set, appendix C.2's 10k..200k)."""
    import cv2

    listing = tmp_path / 'list.txt'
    listing.write_text('\n'.join(f'img_{i:03d}.png' for i in range(100)) + '\n')
    small = UnlabeledImageDataset(str(listing), num_samples=10)
    large = UnlabeledImageDataset(str(listing), num_samples=40)
    assert len(small) == 10 and len(large) == 40
    assert len(UnlabeledImageDataset(str(listing), num_samples=1000)) == 100
    small_idx = {small.get_data_info(i)['sample_idx'] for i in range(10)}
    large_idx = {large.get_data_info(i)['sample_idx'] for i in range(40)}
    assert small_idx < large_idx and max(large_idx) > 40  # nested, drawn from the whole list
    for i in range(10):
        info = small.get_data_info(i)
        assert info['img_path'] == osp.join(str(tmp_path), f'img_{info["sample_idx"]:03d}.png')
    # a folder works the same way
    for i in range(6):
        cv2.imwrite(str(tmp_path / f'f{i}.png'), np.full((4, 4, 3), i, np.uint8))
    folder = UnlabeledImageDataset(str(tmp_path / 'f*.png'), num_samples=3)
    assert len(folder) == 3
    assert len({folder[i]['img_path'] for i in range(3)}) == 3
