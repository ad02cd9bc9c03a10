import importlib

import mmdistilldepth.registry as registry
from mmdistilldepth.utils import register_all_modules


def test_every_registry_location_imports():
    registries = [
        v
        for k, v in vars(registry).items()
        if isinstance(v, registry.Registry) and not k.startswith('MMENGINE_')
    ]
    assert len(registries) >= 15
    for reg in registries:
        assert reg.scope == 'mmdistilldepth', reg.name
        for location in reg._locations:
            importlib.import_module(location)


def test_core_components_are_registered():
    register_all_modules()
    assert {
        'CrossContextDistiller',
        'DepthAnythingV2',
        'SimulatedTeacher',
        'NormalizedL1Loss',
        'GradientMatchingLoss',
        'FeatureAlignmentLoss',
        'AssistantGuidedTeacher',
        'DepthAnythingTeacher',
        'GenPerceptTeacher',
        'MarigoldTeacher',
        'DepthDataPreprocessor',
    } <= set(registry.MODELS.module_dict)
    assert {'SyntheticScenes', 'UnlabeledImageDataset', 'NYUv2Dataset', 'SyntheticNYUv2'} <= set(
        registry.DATASETS.module_dict
    )
    assert {'CrossContextCrops', 'ResizeCanvas', 'PackDepthInputs', 'LoadRGBImage'} <= set(
        registry.TRANSFORMS.module_dict
    )
    assert 'AffineInvariantDepthMetric' in registry.METRICS.module_dict
    assert 'ValidateAtStartHook' in registry.HOOKS.module_dict
    assert 'AutocastOptimWrapper' in registry.OPTIM_WRAPPERS.module_dict
