"""A test loop over several benchmarks: one MMEngine ``TestLoop`` epoch each."""

from __future__ import annotations

from typing import Dict, Optional

from mmengine.runner import BaseLoop, TestLoop

from mmdistilldepth.registry import LOOPS


@LOOPS.register_module()
class MultiBenchmarkTestLoop(BaseLoop):
    """Run MMEngine's ``TestLoop`` once per benchmark and return all their metrics.

    Hooks see one ordinary test epoch per benchmark (``before_test`` ...
    ``after_test``); while a benchmark runs, ``runner.test_loop.benchmark`` names it
    and ``runner.test_loop.dataloader`` / ``.evaluator`` are its own, so hooks such
    as ``BenchmarkReportHook`` and ``WorstImagesVisualizationHook`` know what they
    see.

    Args:
        runner (Runner): the runner.
        dataloader (dict | DataLoader): the runner's ``test_dataloader``, used when
            ``benchmarks`` is None.
        evaluator (dict | list | Evaluator): the runner's ``test_evaluator``, idem.
        benchmarks (dict, optional): ``{name: dict(dataloader=..., evaluator=...)}``
            in the order to run them; None runs the runner's own test set under the
            evaluator's ``benchmark`` (or ``'test'``).
        fp16 (bool): fp16 autocast for the forward passes, as ``TestLoop``.

    Returns of :meth:`run`:
        dict: ``{name: {metric: value}}``.
    """

    def __init__(
        self, runner, dataloader, evaluator, benchmarks: Optional[Dict] = None, fp16: bool = False
    ) -> None:
        if not benchmarks:
            name = evaluator.get('benchmark') if isinstance(evaluator, dict) else None
            benchmarks = {name or 'test': dict(dataloader=dataloader, evaluator=evaluator)}
        self.loops: Dict[str, TestLoop] = {
            name: TestLoop(runner, spec['dataloader'], spec['evaluator'], fp16=fp16)
            for name, spec in benchmarks.items()
        }
        self.benchmark = next(iter(self.loops))
        super().__init__(runner, self.loops[self.benchmark].dataloader)
        self.evaluator = self.loops[self.benchmark].evaluator

    def run(self) -> Dict[str, Dict[str, float]]:
        """Each benchmark's test epoch in turn."""
        results = {}
        for name, loop in self.loops.items():
            self.benchmark, self.dataloader, self.evaluator = name, loop.dataloader, loop.evaluator
            results[name] = {k: float(v) for k, v in loop.run().items()}
        return results
