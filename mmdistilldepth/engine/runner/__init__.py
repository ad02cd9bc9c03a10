"""How a run is assembled: the runner, the loops, the test sets of tools/test.py."""

from .loops import MultiBenchmarkTestLoop
from .runner import ConsoleFormatter, DepthRunner, FileOnlyFilter, build_runner
from .test_sets import (
    benchmark_test_sets,
    find_transform,
    own_test_set,
    parse_data_roots,
    prepare_test_sets,
)

__all__ = [
    'ConsoleFormatter',
    'DepthRunner',
    'FileOnlyFilter',
    'MultiBenchmarkTestLoop',
    'benchmark_test_sets',
    'build_runner',
    'find_transform',
    'own_test_set',
    'parse_data_roots',
    'prepare_test_sets',
]
