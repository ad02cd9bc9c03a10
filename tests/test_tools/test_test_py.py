"""tools/test.py end to end on synthetic benchmarks in every layout."""

import csv
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.structures import PixelData

from mmdistilldepth.datasets.synthetic_benchmarks import write_synthetic_benchmark
from mmdistilldepth.engine.runner import find_transform
from mmdistilldepth.registry import MODELS
from tests.conftest import REPO_ROOT, load_tool

BENCHMARKS = {  # name -> (size written, render scale)
    'nyu': ((96, 128), 1),
    'kitti': ((375, 1242), 6),
    'eth3d': ((64, 96), 1),
    'diode': ((48, 64), 1),
    'scannet': ((60, 80), 1),
}
NUM = 3


@MODELS.register_module(force=True)
class OracleDisparityForTest(BaseModel):
    """Predicts ``gain / gt`` at the GT's resolution: exact up to the alignment."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor or dict(type='DepthDataPreprocessor'))
        self.gain = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        assert mode == 'predict'
        for sample in data_samples:
            gt = sample.gt_depth.data
            sample.pred_depth = PixelData(
                data=torch.where(gt > 0, self.gain / gt.clamp(min=1e-6), 0.0)
            )
        return data_samples


def _tool():
    return load_tool('test.py')


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('test_py')
    roots = {}
    for name, (size, render_scale) in BENCHMARKS.items():
        roots[name] = str(root / name)
        write_synthetic_benchmark(
            name, roots[name], NUM, seed=11, size=size, render_scale=render_scale
        )
    base = osp.join(REPO_ROOT, 'configs', '_base_', 'default_runtime.py')
    config = root / 'oracle.py'
    # its own test pipeline sets the input size (56) the benchmarks are read at
    config.write_text(f"""_base_ = [{base!r}]
model = dict(type='OracleDisparityForTest')
test_dataloader = dict(num_workers=0, dataset=dict(pipeline=[
    dict(type='LoadRGBImage'), dict(type='ResizeForDepthModel', size=56),
    dict(type='PackDepthInputs')]))
""")
    checkpoint = root / 'oracle.pth'
    torch.save(dict(state_dict=dict(gain=torch.tensor(1.0)), meta=dict()), checkpoint)
    return root, roots, str(config), str(checkpoint)


def test_all_benchmarks_end_to_end(data, capsys):
    root, roots, config, checkpoint = data
    work_dir = root / 'oracle_run'
    results = _tool().main(
        [
            config,
            checkpoint,
            '--work-dir',
            str(work_dir),
            '--num-worst',
            '2',
            '--benchmarks',
            *BENCHMARKS,
            '--data-root',
            *[f'{k}={v}' for k, v in roots.items()],
        ]
    )
    assert json.load(open(work_dir / 'metrics.json')) == results
    assert set(results) == set(BENCHMARKS)
    for name, metrics in results.items():
        # the oracle is exact: any mix-up of crops, masks, scales or images shows here
        assert metrics['abs_rel'] < 1e-5 and metrics['delta1'] == 1.0, name
        assert metrics['num_invalid'] == 0
        rows = list(csv.DictReader(open(work_dir / name / 'per_image_metrics.csv')))
        assert len(rows) == NUM
        assert np.mean([float(r['rmse']) for r in rows]) == pytest.approx(metrics['rmse'])
        pictures = sorted((work_dir / name / 'worst').glob('*.png'))
        assert len(pictures) == 2
        picture = cv2.imread(str(pictures[0]))
        gt_width = 1216 if name == 'kitti' else BENCHMARKS[name][0][1]
        assert picture.shape[1] == 4 * gt_width  # RGB | prediction | GT | error
    table = (work_dir / 'table.md').read_text()
    header = table.splitlines()[0]
    order = [header.index(t) for t in ('NYUv2 AbsRel', 'KITTI', 'DIODE', 'ScanNet', 'ETH3D')]
    assert order == sorted(order)  # Table 5's column order
    assert table.splitlines()[2].startswith('| oracle | 0.000 | 1.000 |')
    assert table in capsys.readouterr().out


def test_distiller_config_own_test_set_with_a_trained_checkpoint(data, tmp_path):
    """The default config: its teacher is dropped, the student's weights are loaded and
    its own test set (SyntheticNYUv2, input size 126) is evaluated.
    """
    from mmengine.config import Config

    cfg_path = osp.join(REPO_ROOT, 'configs', 'quickstart', 'cross_context_synthetic.py')
    cfg = Config.fromfile(cfg_path)
    cfg.model.teacher = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():  # a positive output (the random init may be all zero after ReLU)
        model.student.depth_head.scratch.output_conv2[2].bias.fill_(1.0)
    checkpoint = tmp_path / 'student.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    work_dir = tmp_path / 'run'
    results = _tool().main(
        [
            cfg_path,
            str(checkpoint),
            '--work-dir',
            str(work_dir),
            '--num-worst',
            '1',
            '--data-root',
            str(tmp_path / 'synthetic_nyu'),
            '--cfg-options',
            'test_dataloader.dataset.num_samples=2',
        ]
    )
    assert list(results) == ['nyu']
    assert 0 < results['nyu']['abs_rel'] < 10 and 0 <= results['nyu']['delta1'] <= 1
    assert len(list((work_dir / 'nyu' / 'worst').glob('*.png'))) == 1


@pytest.mark.parametrize('case', ['config', 'checkpoint', 'data', 'foreign_weights'])
def test_user_errors_end_in_one_line(data, tmp_path, capsys, case):
    root, roots, config, checkpoint = data
    args = [
        config,
        checkpoint,
        '--work-dir',
        str(tmp_path),
        '--benchmarks',
        'nyu',
        '--data-root',
        roots['nyu'],
    ]
    if case == 'config':
        args[0] = str(tmp_path / 'missing.py')
    elif case == 'checkpoint':
        args[1] = str(tmp_path / 'missing.pth')
    elif case == 'data':
        args[-1] = str(tmp_path / 'no_such_folder')
    else:
        args[1] = str(tmp_path / 'foreign.pth')
        torch.save(dict(state_dict={'pretrained.x': torch.zeros(1)}), args[1])
    with pytest.raises(SystemExit) as exit_info:
        _tool().main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('test.py: error:')
    expected = dict(
        config='missing.py',
        checkpoint='missing.pth',
        data='no_such_folder',
        foreign_weights="none of this model's weights",
    )[case]
    assert expected in err[0]


def test_data_root_arguments():
    tool = _tool()
    assert tool.parse_data_roots(['d'], ['nyu']) == {'nyu': 'd'}
    assert tool.parse_data_roots(['nyu=a', 'kitti=b'], ['nyu', 'kitti']) == dict(nyu='a', kitti='b')
    with pytest.raises(tool.UserInputError, match='NAME=DIR'):
        tool.parse_data_roots(['d'], ['nyu', 'kitti'])
    with pytest.raises(tool.UserInputError, match='eth3d'):
        tool.parse_data_roots(['eth3d=x'], ['nyu'])


def test_benchmark_sets_keep_the_models_input_size_and_alignment(data):
    from mmengine.config import Config

    tool = _tool()
    cfg = Config.fromfile(data[2])
    cfg.test_evaluator = dict(type='AffineInvariantDepthMetric', alignment='least_square')
    sets = tool.benchmark_test_sets(cfg, ['kitti', 'eth3d'])
    for name, spec in sets.items():
        dataloader, evaluator = spec['dataloader'], spec['evaluator']
        resize = find_transform(dataloader.dataset.pipeline, 'ResizeForDepthModel')
        assert resize.size == 56 and dataloader.num_workers == 0
        assert evaluator.benchmark == name and evaluator.alignment == 'least_square'
