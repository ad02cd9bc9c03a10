"""tools/train.py ends expected failures with one line naming the problem and the fix."""

import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _train(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    'args, expected',
    [
        (['configs/missing.py'], 'config file configs/missing.py does not exist'),
        (
            ['configs/cross_context_dav2_l.py', '--work-dir', '{tmp}'],
            "checkpoint 'checkpoints/depth_anything_v2_vitl.pth' does not exist: download it",
        ),
        (
            [
                'configs/cross_context_dav2_l.py',
                '--work-dir',
                '{tmp}',
                '--cfg-options',
                'model.student.checkpoint=None',
                'model.teacher.checkpoint=None',
                'model.student.encoder=vits',
                'model.teacher.model.encoder=vits',
                'train_dataloader.dataset.data_root={tmp}/no_images',
            ],
            'no images found at',
        ),
        (
            [
                'configs/quickstart/cross_context_synthetic.py',
                '--work-dir',
                '{tmp}',
                '--resume',
                '{tmp}/nothing.pth',
            ],
            'checkpoint to resume from',
        ),
    ],
)
def test_one_line_errors(tmp_path, args, expected):
    result = _train(*[a.replace('{tmp}', str(tmp_path)) for a in args])
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.startswith('train.py: error:')]
    assert len(lines) == 1 and expected in lines[0], result.stderr[-2000:]
    assert 'Traceback' not in result.stderr
