"""Small helpers shared by the command-line tools."""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from contextlib import contextmanager
from typing import Iterator

from mmengine.config import Config


class UserInputError(Exception):
    """A problem with what the user gave (a path, a config value), said in one line."""


def add_runner_args(parser: argparse.ArgumentParser, cfg_example: str) -> None:
    """The flags every runner tool takes: ``--cfg-options``, ``--launcher``, ``--local-rank``."""
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=f'override config values, e.g. {cfg_example}')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='how processes are launched (pytorch = torchrun)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that pass ``--local-rank``."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(path: str) -> Config:
    """Load a config, or fail with one line saying what is missing."""
    if not osp.isfile(path):
        raise UserInputError(f'config file {path} does not exist; give the path of a config '
                             'such as configs/quickstart/cross_context_synthetic.py')
    return Config.fromfile(path)


def check_file(path: str, what: str, fix: str) -> None:
    if not osp.isfile(path):
        raise UserInputError(f'{what} {path} does not exist; {fix}')


@contextmanager
def one_line_errors(tool: str) -> Iterator[None]:
    """Print expected failures (missing files, bad input) as one line and exit 2."""
    from mmdistilldepth.models.checkpoint_loading import CheckpointError
    try:
        yield
    except (UserInputError, FileNotFoundError, CheckpointError) as exc:
        message = f'missing file: {exc}' if isinstance(exc, FileNotFoundError) else str(exc)
        print(f'{tool}: error: {message}', file=sys.stderr)
        sys.exit(2)
