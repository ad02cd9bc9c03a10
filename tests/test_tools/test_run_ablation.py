"""tools/analysis/run_ablation.py reads the Table 1-2 settings from the ablation configs."""

import glob
import os.path as osp

import pytest
from mmengine.config import Config

from tests.conftest import REPO_ROOT, load_tool

run_ablation = load_tool('analysis', 'run_ablation.py')
PATHS = sorted(glob.glob(osp.join(run_ablation.ABLATIONS, '*.py')))
MAIN = osp.join(
    REPO_ROOT, 'configs', 'cross_context', 'cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py'
)


def test_every_setting_has_the_papers_numbers():
    assert sorted(run_ablation.setting_name(p) for p in PATHS) == sorted(run_ablation.PAPER)


@pytest.mark.parametrize('path', PATHS, ids=osp.basename)
def test_overrides_are_what_the_config_changes(path):
    """The overrides on the main config give the ablation config's own model."""
    cfg = Config.fromfile(MAIN)
    cfg.merge_from_dict(run_ablation.leaf_overrides(path))
    assert cfg.model.to_dict() == Config.fromfile(path).model.to_dict()


def test_overrides_on_the_quickstart(tmp_path):
    (path,) = [p for p in PATHS if '_table1-shared-context-none_' in p]
    overrides = run_ablation.leaf_overrides(path)
    assert overrides == dict(model=dict(local_global=False, loss_sc=dict(normalization='none')))
    cfg = run_ablation.build_cfg(
        'table1-shared-context-none',
        overrides,
        seed=1,
        iters=8,
        work_root=str(tmp_path),
        val_samples=2,
    )
    assert cfg.model.local_global is False
    assert cfg.model.loss_sc == dict(
        type='NormalizedL1Loss', normalization='none', grouping='range'
    )
    assert cfg.model.train_size == (112, 112)  # the quickstart's student and views
    assert cfg.train_cfg.max_iters == 8 and cfg.param_scheduler[-1].end == 8


def test_bad_setting_name():
    with pytest.raises(ValueError, match='names its table and setting'):
        run_ablation.setting_name('configs/cross_context/cross-context_dav2-l_x.py')


def test_merge_results_of_one_process_per_seed(tmp_path):
    import json

    for seed, value in ((0, 0.2), (1, 0.3)):
        root = tmp_path / f's{seed}'
        root.mkdir()
        runs = {'table2-both': [dict(seed=seed, abs_rel=value, delta1=0.5)]}
        saved = dict(results=runs, minutes=10.0 + seed, iters=5, seeds=[seed], val_samples=2)
        (root / 'results.json').write_text(json.dumps(saved))
    merged = run_ablation.merge_results([str(tmp_path / 's1'), str(tmp_path / 's0')])
    assert merged['seeds'] == [0, 1] and merged['minutes'] == 11.0
    assert [r['seed'] for r in merged['results']['table2-both']] == [0, 1]
    text = run_ablation.write_report(
        merged['results'], 11.0, 5, [0, 1], 2, str(tmp_path / 'report.md'), {'a.b': 1}
    )
    assert '0.2500 ± 0.0707' in text and '`a.b=1`' in text
