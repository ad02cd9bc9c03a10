"""How much the evaluation adds to a model's forward pass, measured in one run.

    python tools/analysis/benchmark_eval.py [--config configs/_base_/models/dav2_vits.py]
        [--repeats 10] [--device cpu] [--threads N]

For an NYUv2-size image (480x640 -> network input 518x686) it times, per image:

* the model forward (Depth Anything V2, random init: the weights do not change the
  time), batch 1, ``torch.no_grad``;
* what :class:`AffineInvariantDepthMetric` does per image: resize the prediction to
  the ground truth (bilinear, align_corners=True), the NYU valid mask, the
  least-squares fit in disparity space, clipping and the ten metrics.

The two are timed in turn within each repeat, so load from other processes affects
both alike; it prints the medians and their ratio (the target: evaluation adds
<= 5 %).
"""

import argparse
import os.path as osp
import statistics
import time

import torch

from mmdistilldepth.evaluation.functional import METRIC_NAMES, evaluate_depth
from mmdistilldepth.evaluation.metrics.affine_invariant_depth_metric import resize_to
from mmdistilldepth.utils import load_config, one_line_errors, register_all_modules

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_interleaved(fns, repeats: int, device: torch.device):
    """Median wall time (s) of each function, called in turn within every repeat, so
    that load from other processes affects all of them alike; one warm-up round.
    """
    times = [[] for _ in fns]
    for round_ in range(repeats + 1):
        for fn, acc in zip(fns, times):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            if round_:
                acc.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main(argv=None):
    parser = argparse.ArgumentParser(description='Evaluation cost vs model forward.')
    parser.add_argument(
        '--config', default=osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'dav2_vits.py')
    )
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    with one_line_errors('benchmark_eval.py'):
        register_all_modules()
        if args.threads:
            torch.set_num_threads(args.threads)
        from mmdistilldepth.registry import MODELS

        device = torch.device(args.device)
        cfg = load_config(args.config)
        model = MODELS.build(cfg.model).to(device).eval()

        gen = torch.Generator().manual_seed(0)
        inputs = torch.randn(1, 3, 518, 686, generator=gen).to(device)
        gt = (torch.rand(1, 480, 640, generator=gen) * 8 + 0.5).to(device)
        gt[:, :40] = 0  # some missing depth, as in NYUv2

        with torch.no_grad():
            pred = model(inputs, mode='tensor')[0]  # (1, 518, 686) disparity

            def forward():
                model(inputs, mode='tensor')

            def evaluate():
                metrics = evaluate_depth(
                    resize_to(pred, gt.shape[-2:]), gt, 'nyu', 'least_square_disparity'
                )
                torch.stack([metrics[k] for k in METRIC_NAMES]).tolist()  # as the metric

            t_forward, t_eval = time_interleaved([forward, evaluate], args.repeats, device)
    name = osp.splitext(osp.basename(args.config))[0]
    print(
        f'device: {device} ({torch.get_num_threads()} threads), model: {name}, '
        f'input 518x686, ground truth 480x640, median of {args.repeats}'
    )
    print(f'model forward           : {t_forward * 1e3:9.2f} ms')
    print(f'alignment + metrics     : {t_eval * 1e3:9.2f} ms')
    print(f'evaluation / forward    : {100 * t_eval / t_forward:9.2f} %')
    return t_forward, t_eval


if __name__ == '__main__':
    main()
