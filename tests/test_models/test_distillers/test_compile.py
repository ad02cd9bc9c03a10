"""model.compile: the quickstart trains one iteration with the student and the losses
under torch.compile, and matches the eager iteration.

The test compiles with ``backend='aot_eager'`` (Dynamo's graph capture and AOTAutograd's
joint forward/backward graph, no code generation): with the default inductor backend
the one iteration took 219 s on this 2-core machine under load (C++ code generation),
too slow for a test. ``compile=True`` in a config means inductor.
"""

import copy
import os.path as osp
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper

from mmdistilldepth.registry import DATASETS, MODELS
from mmdistilldepth.utils import register_all_modules
from tests.conftest import REPO_ROOT

register_all_modules()
QUICKSTART = osp.join(REPO_ROOT, 'configs', 'quickstart', 'cross_context_synthetic.py')


def _quickstart(compile):
    cfg = Config.fromfile(QUICKSTART)
    model_cfg = cfg.model.to_dict()
    # the quickstart at its smallest: a 2-block, 48-wide student on 28 px views
    model_cfg['student']['encoder'] = dict(
        embed_dim=48, depth=2, num_heads=2, layer_idx=(0, 1, 1, 1)
    )
    model_cfg['student'].update(features=16, out_channels=(8, 16, 24, 48))
    model_cfg['train_size'] = (28, 28)
    model_cfg['compile'] = compile
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    optim_cfg = cfg.optim_wrapper.to_dict()
    optim_cfg['type'] = 'SkipNonFiniteOptimWrapper'
    # SGD: the update is the (clipped) gradient, so it compares with eager to float
    # tolerance (AdamW's first step is lr * sign(g), which flips where g is ~0)
    optim_cfg['optimizer'] = dict(type='SGD', lr=1.0)
    optim_cfg.pop('paramwise_cfg', None)
    return cfg, model, build_optim_wrapper(model, optim_cfg)


def _batch(cfg):
    pipeline = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    pipeline[0].update(global_size=28, shared_side=(32, None), local_size=28, num_local=2)
    dataset = DATASETS.build(
        dict(type='SyntheticScenes', num_samples=2, height=42, width=42, seed=0, pipeline=pipeline)
    )
    np.random.seed(0)
    return pseudo_collate([dataset[0], dataset[1]])


def test_quickstart_trains_one_iteration_compiled():
    torch._dynamo.reset()
    cfg, eager, eager_optim = _quickstart(False)
    _, compiled, compiled_optim = _quickstart(dict(backend='aot_eager'))
    data = _batch(cfg)
    # compiled in place of the forward methods: names and checkpoints do not change
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    initial = [p.detach().clone() for p in eager.student.parameters()]
    torch.manual_seed(1)
    expected = eager.train_step(copy.deepcopy(data), eager_optim)
    start = time.perf_counter()
    torch.manual_seed(1)
    got = compiled.train_step(copy.deepcopy(data), compiled_optim)
    print(f'compiled iteration: {time.perf_counter() - start:.1f} s')
    assert torch._dynamo.utils.counters['stats']['calls_captured'] > 0  # it did compile
    losses = [k for k in expected if k.startswith('loss_')]
    assert losses and set(losses) <= set(got)
    for key in losses:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-5)
    # the step happened: the weights moved as the eager ones did
    moved = 0
    for (name, a), b, c in zip(
        compiled.student.named_parameters(), eager.student.parameters(), initial
    ):
        # atol: the normalized losses do not change when the prediction shifts, so the
        # last conv's bias has an analytically zero gradient, whose float noise (a
        # cancelling sum over every pixel, ~1e-6 here) differs between the two graphs.
        torch.testing.assert_close(a - c, b - c, rtol=1e-3, atol=1e-5)
        moved += int(not torch.equal(a, c))
    assert moved > len(initial) // 2
