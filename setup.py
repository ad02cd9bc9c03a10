"""Installs the mmdistilldepth package (``pip install -e .``)."""
import os.path as osp

from setuptools import find_packages, setup


def _version() -> str:
    scope: dict = {}
    with open(osp.join('mmdistilldepth', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmdistilldepth',
    version=_version(),
    description='Training and evaluation of Distill Any Depth '
    '(cross-context distillation of monocular depth models) on MMEngine',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmdistilldepth', 'mmdistilldepth.*']),
    # the C source of the compiled loss path, built at first use (models/losses/native.py)
    package_data={'mmdistilldepth.models.losses': ['csrc/*.c']},
    python_requires='>=3.9',
    install_requires=[
        'torch==2.14.1',
        'torchvision==0.29.1',
        'timm==1.0.31',
        'diffusers==0.42.1',
        'mmengine==0.10.7',
        'mmcv-lite==2.2.0',
        'numpy',
        'opencv-python',
        'safetensors',
        'tqdm',
    ],
    extras_require={
        # MarigoldTeacher (diffusers' Marigold pipeline imports transformers), and the
        # empty-prompt embedding of either diffusion teacher: docs/diffusion_teachers.md
        'diffusion': ['transformers==5.24.0', 'scipy'],
        # tools/demo.py, the local web demo (requirements/demo.txt, docs/demo.md)
        'demo': ['gradio>=6.31,<7', 'gradio_client>=2.7.2,<3'],
        # transformers so that the diffusion-teacher tests run in full; gradio and
        # playwright (driving the system chromium) for the demo's server and browser tests
        'tests': ['pytest', 'onnx', 'onnxruntime', 'h5py', 'scipy', 'transformers==5.24.0',
                  'gradio>=6.31,<7', 'gradio_client>=2.7.2,<3', 'playwright>=1.65.2,<2'],
    },
    license='Apache-2.0',
)
