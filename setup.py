"""Installs the mmdistilldepth package (``pip install -e .``)."""

import os.path as osp

from setuptools import find_packages, setup


def _requirements(name: str) -> list:
    """The requirement lines of ``requirements/<name>.txt``, following ``-r`` includes."""
    lines = []
    with open(osp.join('requirements', name + '.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line.startswith('-r '):
                lines += _requirements(osp.splitext(line[3:].strip())[0])
            elif line:
                lines.append(line)
    return list(dict.fromkeys(lines))  # an extra may include a file twice


#: pip extra -> its requirements/<file>.txt (``pip install "mmdistilldepth[diffusion]"``)
EXTRAS = {
    'diffusion': 'diffusion',  # GenPercept and Marigold teachers
    'hf': 'hf',  # Hugging Face hub ids, transformers export
    'export': 'export',  # ONNX
    'demo': 'demo',  # tools/demo.py, the local web demo (docs/demo.md)
    'all': 'optional',  # every extra above
    'tests': 'tests',  # the test suite: all of it runs, nothing skips
    'docs': 'docs',  # the figures in docs/
}


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
    python_requires='>=3.9',
    # ranges, not pins; CI's exact versions: requirements/constraints.txt
    install_requires=_requirements('runtime'),
    extras_require={extra: _requirements(name) for extra, name in EXTRAS.items()},
    license='Apache-2.0',
)
