from .assistant_guided_teacher import AssistantGuidedTeacher, align_scale_shift
from .base_teacher import BaseTeacher
from .depth_anything_teacher import DepthAnythingTeacher
from .genpercept_teacher import GenPerceptTeacher
from .marigold_teacher import MarigoldTeacher
from .midas_teacher import MiDaSTeacher
from .simulated_teacher import SimulatedTeacher

__all__ = [
    'BaseTeacher',
    'SimulatedTeacher',
    'AssistantGuidedTeacher',
    'align_scale_shift',
    'DepthAnythingTeacher',
    'GenPerceptTeacher',
    'MarigoldTeacher',
    'MiDaSTeacher',
]
