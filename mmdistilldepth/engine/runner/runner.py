"""MMEngine's Runner with a console that shows the run, not the config."""

from __future__ import annotations

import logging
import os
import os.path as osp
import signal

from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmdistilldepth.registry import RUNNERS
from mmdistilldepth.utils.cli import UserInputError

#: Starts of the long messages MMEngine's Runner logs at init, kept out of the console.
FILE_ONLY_MESSAGES = ('Config:\n', 'Hooks will be executed in the following order:')
#: The environment message: the console keeps its runtime part (seed, launcher, ranks).
ENVIRONMENT_MESSAGE = '\n' + '-' * 60 + '\nSystem environment:'
RUNTIME_PART = '\nRuntime environment:'


class FileOnlyFilter(logging.Filter):
    """Drops, on the handler it is attached to, the records in :data:`FILE_ONLY_MESSAGES`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(FILE_ONLY_MESSAGES))


class ConsoleFormatter(logging.Formatter):
    """Formats as ``inner`` does, with the environment message cut to its runtime part.

    The record is copied before it is shortened, so the log file keeps it whole.
    """

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        msg = record.msg
        if isinstance(msg, str) and msg.startswith(ENVIRONMENT_MESSAGE) and RUNTIME_PART in msg:
            record = logging.makeLogRecord(record.__dict__)
            record.msg = msg[msg.index(RUNTIME_PART) :].rstrip('-\n') + '\n'
        return self.inner.format(record)


class IgnoreSignalsInWorker:
    """A dataloader ``worker_init_fn``: the worker ignores preemption signals, then ``inner``.

    ``SIGUSR1`` is ignored. ``SIGTERM`` is ignored while the main process runs; once
    it exits (an ``atexit`` flag in shared memory), the ``SIGTERM`` that
    ``multiprocessing`` sends its workers at exit ends the worker as usual, so a run
    never waits on a worker at exit. SIGKILL always kills it, and a worker whose
    main process is gone ends by itself (PyTorch's workers watch their parent).
    """

    def __init__(self, inner=None) -> None:
        import atexit
        import multiprocessing

        self.inner = inner
        self.exiting = multiprocessing.RawValue('b', 0)
        atexit.register(self._set_exiting)  # runs before multiprocessing's own (LIFO)

    def _set_exiting(self) -> None:
        self.exiting.value = 1

    def _on_sigterm(self, number, frame) -> None:
        if self.exiting.value:
            os._exit(0)  # as PyTorch's workers do on their parent's SIGTERM

    def __call__(self, worker_id: int) -> None:
        if hasattr(signal, 'SIGUSR1'):
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        if self.inner is not None:
            self.inner(worker_id)


def _is_console(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and not isinstance(
        handler, logging.FileHandler
    )


@RUNNERS.register_module()
class DepthRunner(Runner):
    """``mmengine.runner.Runner`` whose console shows progress, losses and the ETA.

    MMEngine logs, when a runner is built, the system environment, the whole
    config (hundreds of lines) and the hook order. Here they go to the log file
    only (``work_dir/<timestamp>/<timestamp>.log``), the config also to
    ``work_dir/<config name>.py`` (MMEngine's dump); the console keeps the runtime
    environment (seed, launcher, world size) and gets one line saying where the
    rest is. Everything else is MMEngine's Runner; select it with
    ``runner_type = 'DepthRunner'`` (``configs/_base_/default_runtime.py`` does).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        name = osp.basename(self.cfg.filename) if self.cfg.filename else f'{self.timestamp}.py'
        self.logger.info(
            f'config: {osp.join(self.work_dir, name)}; environment, config and '
            f'hooks: {osp.join(self.log_dir, self.timestamp + ".log")}'
        )

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed: bool = False):
        """MMEngine's ``build_dataloader``; the workers ignore SIGTERM and SIGUSR1.

        See :class:`IgnoreSignalsInWorker`: on a preemption signal sent to the whole
        job, the main process saves a checkpoint and stops the workers itself.
        """
        loader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        if getattr(loader, 'num_workers', 0) > 0 and not isinstance(
            loader.worker_init_fn, IgnoreSignalsInWorker
        ):
            loader.worker_init_fn = IgnoreSignalsInWorker(loader.worker_init_fn)
        return loader

    def load_checkpoint(
        self,
        filename: str,
        map_location='cpu',
        strict: bool = False,
        revise_keys=[(r'^module.', '')],
    ):
        """MMEngine's ``load_checkpoint``, refusing a file with none of the model's weights.

        With ``strict=False`` (how ``load_from`` loads) MMEngine only warns about
        missing keys, so a checkpoint of another model would leave this one at its
        initialization without an error.

        Raises:
            UserInputError: no key of the checkpoint is a key of the model.
        """
        checkpoint = super().load_checkpoint(filename, map_location, strict, revise_keys)
        state = checkpoint.get('state_dict', checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        expected = set(model.state_dict())
        found = {k[len('module.') :] if k.startswith('module.') else k for k in state}
        if expected and not expected & found:
            raise UserInputError(
                f"checkpoint {filename} holds none of this model's weights (its keys look "
                f"like {next(iter(found), '<empty>')!r}, the model's like "
                f'{next(iter(expected))!r}); give a checkpoint of this config, or official '
                "weights through the model's own checkpoint field (--cfg-options "
                'model.checkpoint=PATH)'
            )
        return checkpoint

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        """MMEngine's logger; its console handlers get :class:`FileOnlyFilter` and
        :class:`ConsoleFormatter`.
        """
        logger = super().build_logger(log_level=log_level, log_file=log_file, **kwargs)
        for handler in logger.handlers:
            if _is_console(handler) and not any(
                isinstance(f, FileOnlyFilter) for f in handler.filters
            ):
                handler.addFilter(FileOnlyFilter())
                handler.setFormatter(ConsoleFormatter(handler.formatter))
        return logger


def build_runner(cfg: Config) -> Runner:
    """The runner a config asks for (``runner_type``, default MMEngine's ``Runner``)."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
