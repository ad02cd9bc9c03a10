from .atomic_checkpoint_hook import AtomicCheckpointHook
from .benchmark_report_hook import BenchmarkReportHook
from .depth_visualization_hook import DepthVisualizationHook, colorize, depth_panel
from .fault_injection_hook import FaultInjectionHook
from .progress_bar_hook import ProgressBarHook
from .validate_at_start_hook import ValidateAtStartHook
from .worst_images_visualization_hook import WorstImagesVisualizationHook

__all__ = [
    'AtomicCheckpointHook',
    'BenchmarkReportHook',
    'ValidateAtStartHook',
    'DepthVisualizationHook',
    'FaultInjectionHook',
    'ProgressBarHook',
    'WorstImagesVisualizationHook',
    'colorize',
    'depth_panel',
]
