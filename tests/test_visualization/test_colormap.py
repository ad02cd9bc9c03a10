import numpy as np
import pytest

from mmdistilldepth.apis.outputs import colorize_disparity
from mmdistilldepth.engine.hooks import colorize as hooks_colorize
from mmdistilldepth.visualization import colorize, colour_bar, labelled_panel, to_bgr
from mmdistilldepth.visualization.colormap import BAR_HEIGHT, TITLE_HEIGHT


def test_colorize_range_mask_and_old_names():
    ramp = np.linspace(0, 1, 64)[None].repeat(4, 0)
    color = colorize(ramp, value_range=(0.0, 1.0))
    assert color.shape == (4, 64, 3) and color.dtype == np.uint8
    assert color[0, -1].astype(int).sum() > color[0, 0].astype(int).sum()  # inferno: bright
    clipped = colorize(ramp, value_range=(0.0, 0.5))
    assert (clipped[:, 40:] == clipped[0, -1]).all()  # above the range: the last colour
    valid = ramp > 0.5
    masked = colorize(ramp, valid)
    assert not masked[~valid].any() and masked[valid].any()
    assert hooks_colorize is colorize  # the old import path stays
    np.testing.assert_array_equal(
        colorize_disparity(ramp), to_bgr(colorize(ramp, value_range=(0, 1)))
    )
    with pytest.raises(ValueError, match='colormap'):
        colorize(ramp, colormap='rainbow')


def test_panel_has_a_title_and_a_colour_bar():
    image = colorize(np.random.rand(30, 50), value_range=(0.0, 1.0))
    panel = labelled_panel(image, 'teacher', (0.0, 1.0))
    assert panel.shape == (TITLE_HEIGHT + 30 + BAR_HEIGHT, 50, 3)
    assert panel[:TITLE_HEIGHT].any()  # the title is written
    np.testing.assert_array_equal(panel[TITLE_HEIGHT : TITLE_HEIGHT + 30], image)
    bar = colour_bar(50, (0.0, 1.0))
    np.testing.assert_array_equal(panel[-BAR_HEIGHT:], bar)
    assert not labelled_panel(image, 'RGB')[-BAR_HEIGHT:].any()  # no range: no bar
