"""A progress bar over the test iterations."""

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from tqdm import tqdm

from mmdistilldepth.registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """A tqdm bar per test epoch on the main process, named after the benchmark."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.bar = None

    def before_test_epoch(self, runner) -> None:
        self.bar = tqdm(
            total=len(runner.test_loop.dataloader),
            desc=getattr(runner.test_loop, 'benchmark', 'test'),
            disable=not is_main_process(),
            dynamic_ncols=True,
        )

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
