"""tools/test.py --alignment: metric models evaluated as metric."""

import os.path as osp

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.structures import PixelData

from mmdistilldepth.datasets.synthetic_benchmarks import write_synthetic_benchmark
from mmdistilldepth.registry import MODELS
from tests.conftest import REPO_ROOT, load_tool


@MODELS.register_module(force=True)
class TwiceTooFarMetricForTest(BaseModel):
    """Predicts metric depth ``2 * gt``: AbsRel 1 as it is, 0 after a scale fit."""

    pred_space = 'depth'

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor or dict(type='DepthDataPreprocessor'))
        self.gain = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        for sample in data_samples:
            sample.pred_depth = PixelData(data=self.gain * sample.gt_depth.data)
            sample.set_metainfo(dict(pred_space=self.pred_space))
        return data_samples


def test_help_lists_the_alignments(capsys):
    with pytest.raises(SystemExit):
        load_tool('test.py').parse_args(['-h'])
    out = capsys.readouterr().out
    assert '--alignment' in out and 'none' in out and 'median' in out
    with open(osp.join(REPO_ROOT, 'tools', 'test.py')) as f:
        assert len(f.readlines()) <= 160


def test_alignment_reaches_the_evaluator(tmp_path):
    root = tmp_path / 'nyu'
    write_synthetic_benchmark('nyu', str(root), 2, seed=3, size=(48, 64), render_scale=1)
    base = osp.join(REPO_ROOT, 'configs', '_base_', 'default_runtime.py')
    config = tmp_path / 'twice.py'
    config.write_text(f"""_base_ = [{base!r}]
model = dict(type='TwiceTooFarMetricForTest')
test_dataloader = dict(num_workers=0, dataset=dict(pipeline=[
    dict(type='LoadRGBImage'), dict(type='ResizeForDepthModel', size=28),
    dict(type='PackDepthInputs')]))
""")
    checkpoint = tmp_path / 'twice.pth'
    torch.save(dict(state_dict=dict(gain=torch.tensor(2.0)), meta=dict()), checkpoint)
    tool = load_tool('test.py')
    results = {}
    for alignment in ('none', 'median', None):
        args = [str(config), str(checkpoint), '--benchmarks', 'nyu', '--data-root', str(root)]
        args += ['--work-dir', str(tmp_path / f'run_{alignment}'), '--num-worst', '0']
        results[alignment] = tool.main(args + (['--alignment', alignment] if alignment else []))
    assert results['none']['nyu']['abs_rel'] == pytest.approx(1.0, abs=1e-5)
    assert results['median']['nyu']['abs_rel'] < 1e-5
    # default unchanged (least_square_disparity): the depth is inverted, then fit
    assert results[None]['nyu']['abs_rel'] < 1e-4
