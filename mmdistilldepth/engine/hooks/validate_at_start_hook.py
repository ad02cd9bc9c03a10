"""Validate once before training, so the log shows where the student started."""

from mmengine.hooks import Hook

from mmdistilldepth.registry import HOOKS


@HOOKS.register_module()
class ValidateAtStartHook(Hook):
    """Run the validation loop before the first training iteration.

    The metrics of the untrained (or freshly initialized) student then stand in the
    log beside those after training. Skipped when a run is resumed past iteration 0.
    """

    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        if runner.iter == 0 and runner.val_loop is not None:
            runner.logger.info('validating the student before training')
            runner.val_loop.run()
