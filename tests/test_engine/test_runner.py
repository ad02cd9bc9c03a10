"""DepthRunner's console, the report hook, TensorBoard fallback, file modes."""

import io
import json
import logging
import os
import stat
from types import SimpleNamespace

import numpy as np

from mmdistilldepth.engine import atomic_write_bytes
from mmdistilldepth.engine.hooks import BenchmarkReportHook
from mmdistilldepth.engine.runner import ConsoleFormatter, FileOnlyFilter
from mmdistilldepth.visualization import OptionalTensorboardVisBackend, vis_backend


def test_console_drops_the_config_and_keeps_the_runtime_environment():
    stream, full = io.StringIO(), io.StringIO()
    console, file_handler = logging.StreamHandler(stream), logging.StreamHandler(full)
    console.addFilter(FileOnlyFilter())
    console.setFormatter(ConsoleFormatter(logging.Formatter('%(message)s')))
    logger = logging.getLogger('test-depth-runner-console')
    logger.handlers = [console, file_handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    dash = '-' * 60
    logger.info(
        f'\n{dash}\nSystem environment:\n    torch: x\n\nRuntime environment:\n'
        f'    seed: 0\n{dash}\n'
    )
    logger.info("Config:\nmodel = dict(type='X')")
    logger.info('Iter(train) [1/3]  eta: 0:00:01  loss: 1.0')
    text = stream.getvalue()
    assert 'seed: 0' in text and 'torch: x' not in text and "type='X'" not in text
    assert 'Iter(train) [1/3]' in text
    assert 'torch: x' in full.getvalue() and "type='X'" in full.getvalue()  # file: whole


def test_report_hook_writes_metrics_and_the_table(tmp_path):
    hook = BenchmarkReportHook(model_name='m')
    logs = []
    runner = SimpleNamespace(
        work_dir=str(tmp_path),
        test_loop=SimpleNamespace(benchmark='kitti'),
        logger=SimpleNamespace(info=logs.append),
    )
    hook.before_run(runner)
    hook.after_test_epoch(runner, dict(abs_rel=0.25, delta1=0.5))
    runner.test_loop.benchmark = 'nyu'
    hook.after_test_epoch(runner, dict(abs_rel=0.125, delta1=0.75))
    hook.after_test(runner)
    hook.after_run(runner)
    assert json.load(open(tmp_path / 'metrics.json')) == dict(
        kitti=dict(abs_rel=0.25, delta1=0.5), nyu=dict(abs_rel=0.125, delta1=0.75)
    )
    table = (tmp_path / 'table.md').read_text()
    assert table.splitlines()[2] == '| m | 0.125 | 0.750 | 0.250 | 0.500 |'  # NYUv2 first
    assert table.strip() in logs[0]


def test_tensorboard_backend_without_tensorboard(tmp_path, monkeypatch):
    monkeypatch.setattr(vis_backend, 'tensorboard_available', lambda: False)
    backend = OptionalTensorboardVisBackend(str(tmp_path / 'tb'))
    backend.add_scalars(dict(loss=1.0), step=1)
    backend.add_image('x', np.zeros((4, 4, 3), np.uint8))
    backend.close()
    assert not (tmp_path / 'tb').exists()


def test_saved_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(str(tmp_path / 'ckpt.pth'), b'x')
        from mmengine.visualization import LocalVisBackend

        backend = LocalVisBackend(str(tmp_path / 'vis'))
        backend.add_image('panel', np.zeros((4, 4, 3), np.uint8))
    finally:
        os.umask(old)
    pictures = list((tmp_path / 'vis').rglob('*.png'))
    for path in [tmp_path / 'ckpt.pth', *pictures]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, path
    assert pictures
