import glob
from types import SimpleNamespace

import cv2
import numpy as np
import torch
from mmengine.visualization import Visualizer

from mmdistilldepth.engine.hooks import DepthVisualizationHook, depth_panel
from tests.test_models.test_distillers.test_cross_context_distiller import _batch, _model


def test_panel_aligns_student_before_differencing():
    rgb = torch.rand(3, 16, 20)
    teacher = torch.rand(1, 16, 20) + 0.5
    panel = depth_panel(rgb, teacher, 3.0 * teacher - 1.0)  # an affine copy
    assert panel.shape == (16, 80, 3) and panel.dtype == np.uint8
    np.testing.assert_array_equal(panel[:, 20:40], panel[:, 40:60])  # aligned = teacher
    diff_zero = panel[:, 60:]
    assert (diff_zero == diff_zero[0, 0]).all()  # zero difference everywhere


def test_hook_draws_shared_and_local_rows(tmp_path):
    model = _model()
    data = _batch(model)
    vis = Visualizer.get_instance('vis-hook-test', vis_backends=[dict(type='LocalVisBackend')],
                                  save_dir=str(tmp_path))
    runner = SimpleNamespace(model=model, visualizer=vis, iter=9)
    hook = DepthVisualizationHook(interval=10)
    hook.before_train_iter(runner, 0)
    assert model.record_visuals  # iteration 10 is drawn
    model.loss(**data)
    hook.after_train_iter(runner, 0)
    files = glob.glob(str(tmp_path / '**' / '*.png'), recursive=True)
    assert len(files) == 1
    image = cv2.imread(files[0])
    assert image.shape == (2 * 56, 4 * 56, 3)  # shared row + local row at train size
    assert not model.record_visuals and model.visuals == {}
    runner.iter = 10
    hook.before_train_iter(runner, 0)
    assert not model.record_visuals  # iteration 11 is not drawn
