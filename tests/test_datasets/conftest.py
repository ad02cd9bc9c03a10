"""Fixtures shared by the benchmark tests: the default scope and the synthetic layouts."""

import pytest
from mmengine.registry import init_default_scope

from mmdistilldepth.datasets.synthetic_benchmarks import write_synthetic_benchmark
from tests.test_datasets.benchmark_formats import FORMATS


@pytest.fixture(scope='module')
def mdd_default_scope():
    """Make ``mmdistilldepth`` the default registry scope for a test module."""
    init_default_scope('mmdistilldepth')


@pytest.fixture(scope='session')
def layouts(tmp_path_factory):
    """Three synthetic samples of every benchmark, in its layout, with its split list.

    Returns:
        dict: format -> (data_root, path of the split list).
    """
    root = tmp_path_factory.mktemp('benchmarks')
    out = {}
    for fmt, (_, size, render_scale) in FORMATS.items():
        data_root = str(root / fmt)
        split = write_synthetic_benchmark(
            fmt, data_root, 3, seed=5, size=size, render_scale=render_scale
        )
        out[fmt] = (data_root, split)
    return out
