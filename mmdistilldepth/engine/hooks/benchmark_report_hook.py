"""The zero-shot report of a test run: metrics.json and the Table-5 style table."""

from __future__ import annotations

import json
import os
import os.path as osp
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmdistilldepth.evaluation.metrics.benchmark_report import markdown_table
from mmdistilldepth.registry import HOOKS


@HOOKS.register_module()
class BenchmarkReportHook(Hook):
    """Collect each benchmark's test metrics; write ``metrics.json`` and ``table.md``.

    After every test epoch (one per benchmark under ``MultiBenchmarkTestLoop``) the
    files are rewritten with all results so far, so a run stopped half-way keeps
    what it measured: ``metrics.json`` is ``{benchmark: {metric: value}}`` and
    ``table.md`` the paper's Table 5 layout (AbsRel and delta1 per benchmark, see
    :func:`~mmdistilldepth.evaluation.metrics.markdown_table`), also logged at the
    end of the run. Main process only.

    Args:
        out_dir (str, optional): where the files go; None: the runner's work dir.
        model_name (str, optional): the table's row title; None: the config's name.
    """

    priority = 'LOW'

    def __init__(self, out_dir: Optional[str] = None, model_name: Optional[str] = None) -> None:
        self.out_dir = out_dir
        self.model_name = model_name
        self.results: Dict[str, Dict[str, float]] = {}

    def _name(self, runner) -> str:
        if self.model_name:
            return self.model_name
        filename = getattr(runner.cfg, 'filename', None)
        return osp.splitext(osp.basename(filename))[0] if filename else runner.experiment_name

    def before_run(self, runner) -> None:
        self.results = {}

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        name = getattr(runner.test_loop, 'benchmark', None) or 'test'
        self.results[name] = {k: float(v) for k, v in (metrics or {}).items()}

    def after_test(self, runner) -> None:
        if not is_main_process() or not self.results:
            return
        out_dir = self.out_dir or runner.work_dir
        os.makedirs(out_dir, exist_ok=True)
        with open(osp.join(out_dir, 'metrics.json'), 'w') as f:
            json.dump(self.results, f, indent=2)
        with open(osp.join(out_dir, 'table.md'), 'w') as f:
            f.write(markdown_table(self._name(runner), self.results) + '\n')

    def after_run(self, runner) -> None:
        if is_main_process() and self.results:
            table = markdown_table(self._name(runner), self.results)
            runner.logger.info(
                f'zero-shot results (Table 5 layout):\n{table}\n'
                f'results written to {self.out_dir or runner.work_dir}'
            )
