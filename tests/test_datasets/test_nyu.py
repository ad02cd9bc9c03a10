"""mmdistilldepth/datasets/nyu.py and tools/dataset_converters/nyu_mat_to_layout.py."""

import cv2
import numpy as np
import pytest

from mmdistilldepth.datasets import NYUv2Dataset
from mmdistilldepth.datasets.transforms import LoadDepthAnnotation, LoadRGBImage
from tests.conftest import load_tool


def _tool(name):
    return load_tool('dataset_converters', f'{name}.py')


def _fake_nyu_mat(path, images, raw, filled, scenes):
    """A tiny stand-in of nyu_depth_v2_labeled.mat: MATLAB v7.3 = HDF5 + 512-byte header,
    arrays stored transposed as MATLAB does, scene names as referenced uint16 strings.
    """
    h5py = pytest.importorskip('h5py')
    with h5py.File(path, 'w', userblock_size=512) as f:
        f.create_dataset('images', data=images.transpose(0, 3, 2, 1))  # (N, 3, W, H)
        f.create_dataset('rawDepths', data=raw.transpose(0, 2, 1))
        f.create_dataset('depths', data=filled.transpose(0, 2, 1))
        refs = f.create_dataset('scenes', (1, len(scenes)), dtype=h5py.ref_dtype)
        for i, name in enumerate(scenes):
            chars = np.array([ord(c) for c in name], np.uint16)[:, None]
            refs[0, i] = f.create_dataset(f'#refs#/{i}', data=chars).ref
    with open(path, 'r+b') as f:
        f.write(b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: fake HDF5 schema')


def test_nyu_mat_converter_writes_the_reader_layout(tmp_path):
    scipy_io = pytest.importorskip('scipy.io')
    rng = np.random.default_rng(0)
    num, height, width = 3, 12, 16
    images = rng.integers(0, 255, (num, height, width, 3), dtype=np.uint8)
    raw = rng.uniform(0.5, 9.0, (num, height, width)).astype(np.float32)
    raw[:, 0, :4] = 0  # missing raw depth
    filled = raw + 0.25
    _fake_nyu_mat(
        str(tmp_path / 'labeled.mat'),
        images,
        raw,
        filled,
        ['kitchen_0004', 'office_0005', 'kitchen_0004'],
    )
    scipy_io.savemat(
        str(tmp_path / 'splits.mat'),
        dict(testNdxs=np.array([[1.0], [3.0]]), trainNdxs=np.array([[2.0]])),
    )
    tool = _tool('nyu_mat_to_layout')
    assert tool.is_hdf5_mat(str(tmp_path / 'labeled.mat'))
    assert not tool.is_hdf5_mat(str(tmp_path / 'splits.mat'))
    out = tmp_path / 'nyuv2'
    tool.main(
        [
            str(tmp_path / 'labeled.mat'),
            str(tmp_path / 'splits.mat'),
            '--out',
            str(out),
            '--split',
            'all',
        ]
    )
    lines = (out / 'filename_list_test.txt').read_text().split()
    assert lines == [
        'test/kitchen_0004/rgb_0001.png',
        'test/kitchen_0004/depth_0001.png',
        'test/kitchen_0004/filled_0001.png',
        'test/kitchen_0004/rgb_0003.png',
        'test/kitchen_0004/depth_0003.png',
        'test/kitchen_0004/filled_0003.png',
    ]
    assert (
        (out / 'filename_list_train.txt').read_text().startswith('train/office_0005/rgb_0002.png')
    )
    for ann_file in ('filename_list_test.txt', ''):
        dataset = NYUv2Dataset(
            str(out),
            ann_file=ann_file,
            pipeline=[LoadRGBImage(), LoadDepthAnnotation(format='nyu')],
        )
        assert len(dataset) == 2
        sample = dataset[1]  # image 3
        np.testing.assert_array_equal(sample['img'], images[2])
        np.testing.assert_allclose(sample['gt_depth'], raw[2], atol=5e-4)
        assert (sample['gt_depth'][0, :4] == 0).all()
    filled_png = cv2.imread(str(out / 'test/kitchen_0004/filled_0003.png'), -1)
    np.testing.assert_allclose(filled_png / 1000.0, filled[2], atol=5e-4)


def test_nyu_mat_converter_refuses_a_v5_labeled_file(tmp_path, capsys):
    scipy_io = pytest.importorskip('scipy.io')
    scipy_io.savemat(str(tmp_path / 'labeled.mat'), dict(images=np.zeros((2, 2))))
    scipy_io.savemat(
        str(tmp_path / 'splits.mat'), dict(testNdxs=np.ones((1, 1)), trainNdxs=np.ones((1, 1)))
    )
    with pytest.raises(SystemExit):
        _tool('nyu_mat_to_layout').main(
            [
                str(tmp_path / 'labeled.mat'),
                str(tmp_path / 'splits.mat'),
                '--out',
                str(tmp_path / 'o'),
            ]
        )
    assert 'v7.3' in capsys.readouterr().err
