"""tools/analysis/benchmark_data.py runs the mission pipeline on SA-1B-sized JPEGs."""

from tests.conftest import load_tool


def test_benchmark_data_runs():
    tool = load_tool('analysis', 'benchmark_data.py')
    result = tool.main(['configs/cross_context_dav2_l.py', '--num-images', '1', '--repeats', '1'])
    assert result['full']['images_per_s'] > 0 and result['reduced_2']['images_per_s'] > 0
    assert result['original_pixel_views'] is True  # CrossContextCrops: 644..., 560 px at 1:1
    assert result['reduced_2_allowed'] is False  # halving the image would double every view
