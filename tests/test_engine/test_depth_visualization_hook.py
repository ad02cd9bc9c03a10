import glob
from types import SimpleNamespace

import cv2
import numpy as np
import torch
from mmengine.visualization import Visualizer

from mmdistilldepth.engine.hooks import DepthVisualizationHook, depth_panel
from mmdistilldepth.visualization.colormap import BAR_HEIGHT, TITLE_HEIGHT
from tests.test_models.test_distillers.test_cross_context_distiller import _batch, _model


def test_panel_aligns_student_before_differencing():
    rgb = torch.rand(3, 16, 20)
    teacher = torch.rand(1, 16, 20) + 0.5
    panel = depth_panel(rgb, teacher, 3.0 * teacher - 1.0)  # an affine copy
    assert panel.shape == (TITLE_HEIGHT + 16 + BAR_HEIGHT, 80, 3) and panel.dtype == np.uint8
    image = panel[TITLE_HEIGHT : TITLE_HEIGHT + 16]
    np.testing.assert_array_equal(image[:, 20:40], image[:, 40:60])  # aligned = teacher
    diff_zero = image[:, 60:]
    assert (diff_zero == diff_zero[0, 0]).all()  # zero difference everywhere
    # the titles differ (teacher / student), the colour bars of one scale are equal
    assert not np.array_equal(panel[:TITLE_HEIGHT, 20:40], panel[:TITLE_HEIGHT, 40:60])
    np.testing.assert_array_equal(panel[-BAR_HEIGHT:, 20:40], panel[-BAR_HEIGHT:, 40:60])
    assert not panel[-BAR_HEIGHT:, :20].any()  # the RGB panel has no colour bar


def test_panel_error_shows_where_the_student_is_wrong():
    teacher = torch.linspace(1, 2, 24 * 24).reshape(1, 24, 24)
    student = teacher.clone()
    student[:, :8, :8] += 0.5  # a wrong corner
    panel = depth_panel(torch.zeros(3, 24, 24), teacher, student)
    error = panel[TITLE_HEIGHT : TITLE_HEIGHT + 24, 72:].astype(int).sum(-1)
    assert error[:8, :8].mean() != error[12:, 12:].mean()


def test_hook_draws_shared_and_local_rows(tmp_path):
    model = _model()
    data = _batch(model)
    vis = Visualizer.get_instance(
        'vis-hook-test', vis_backends=[dict(type='LocalVisBackend')], save_dir=str(tmp_path)
    )
    runner = SimpleNamespace(model=model, visualizer=vis, iter=9)
    hook = DepthVisualizationHook(interval=10)
    hook.before_train_iter(runner, 0)
    assert model.record_visuals  # iteration 10 is drawn
    model.loss(**data)
    hook.after_train_iter(runner, 0)
    files = glob.glob(str(tmp_path / '**' / '*.png'), recursive=True)
    assert len(files) == 1
    image = cv2.imread(files[0])
    # shared row + local row at train size, each with a caption, titles and colour bars
    row_height = 2 * TITLE_HEIGHT + 56 + BAR_HEIGHT
    assert image.shape == (2 * row_height, 4 * 56, 3)
    assert not model.record_visuals and model.visuals == {}
    runner.iter = 10
    hook.before_train_iter(runner, 0)
    assert not model.record_visuals  # iteration 11 is not drawn
