from .atomic_checkpoint_hook import AtomicCheckpointHook
from .depth_visualization_hook import DepthVisualizationHook, colorize, depth_panel
from .validate_at_start_hook import ValidateAtStartHook

__all__ = ['AtomicCheckpointHook', 'ValidateAtStartHook', 'DepthVisualizationHook', 'colorize',
           'depth_panel']
