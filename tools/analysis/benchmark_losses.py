"""Time the distillation losses (forward + backward) against a plain masked L1.

Every loss runs in the same process on the same inputs, so the ratios to the plain
masked L1 are measured in one run. The normalized losses run on their default path
(the compiled kernels for CPU tensors, see ``mmdistilldepth/models/losses/native.py``);
one row shows the torch path for comparison. Prints a markdown table (median of
repeats)::

    python tools/analysis/benchmark_losses.py --sizes 560 1024 --batch 4
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Callable, Dict, List

import torch

from mmdistilldepth.models.losses import (FeatureAlignmentLoss, GradientMatchingLoss,
                                          NormalizedL1Loss, argsort_rows)


def plain_masked_l1(pred: torch.Tensor, target: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
    return ((pred - target).abs() * mask).sum() / mask.sum().clamp(min=1)


def losses() -> Dict[str, Callable]:
    cases: Dict[str, Callable] = {'plain masked L1': plain_masked_l1}
    for name, cfg in [
        ('none', dict(normalization='none')),
        ('global', dict(normalization='global')),
        ('hybrid range (1,2,4)', dict(normalization='hybrid', grouping='range')),
        ('hybrid quantile (1,2,4)', dict(normalization='hybrid', grouping='quantile')),
        ('hybrid spatial (1,2,4)', dict(normalization='hybrid', grouping='spatial')),
        ('local range (4)', dict(normalization='local', grouping='range')),
        ('hybrid range (1,2,4), torch path',
         dict(normalization='hybrid', grouping='range', backend='torch')),
        ('gradient matching (4 scales)', None),
    ]:
        cases[name] = (NormalizedL1Loss(**cfg) if cfg is not None else
                       GradientMatchingLoss(scales=4))
    cases['(one sort of the B maps)'] = sort_only
    return cases


def sort_only(pred: torch.Tensor, target: torch.Tensor,
              mask: torch.Tensor) -> torch.Tensor:
    """Not a loss: one sort of the B student maps, as the torch path does it
    (``argsort_rows``); a normalized loss sorts each of its two maps once."""
    argsort_rows(pred.detach().flatten(1))
    return (pred * 0).sum()


def time_cases(cases: Dict[str, Callable], pred: torch.Tensor, target: torch.Tensor,
               mask: torch.Tensor, repeats: int) -> Dict[str, float]:
    """Median seconds of forward + backward of every case.

    The cases are interleaved (one run of each per round, after a warm-up round),
    so a slow spell of a shared machine hits them all alike.
    """
    times: Dict[str, List[float]] = {name: [] for name in cases}
    for round_ in range(repeats + 1):
        for name, fn in cases.items():
            pred.grad = None
            if pred.is_cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn(pred, target, mask).backward()
            if pred.is_cuda:
                torch.cuda.synchronize()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[560, 1024])
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    cases = losses()
    results = {}
    for size in args.sizes:
        shape = (args.batch, 1, size, size)
        target = torch.rand(shape, device=device) * 10 + 0.1
        pred = (target * 0.5 + torch.rand(shape, device=device)).requires_grad_()
        mask = torch.rand(shape, device=device) > 0.1
        for name, t in time_cases(cases, pred, target, mask, args.repeats).items():
            results[(name, size)] = t

    # Feature alignment runs on (B, N, C) tokens, not on depth maps.
    feats = torch.randn(args.batch, (518 // 14)**2, 1024, device=device)
    student = (feats + torch.randn_like(feats)).requires_grad_()
    feat_time = time_cases({'feat': FeatureAlignmentLoss()}, student, feats, None,
                           args.repeats)['feat']

    where = (torch.cuda.get_device_name(device) if device.type == 'cuda' else
             f'{platform.processor() or platform.machine()} CPU ({os.cpu_count()} cores, '
             f'load average {os.getloadavg()[0]:.1f}), '
             f'torch threads: {torch.get_num_threads()}')
    print(f'forward + backward, B={args.batch}, float32, {where}, '
          f'median of {args.repeats}; torch {torch.__version__}\n')
    header = '| loss | ' + ' | '.join(f'{s}x{s} ms | ratio' for s in args.sizes) + ' |'
    print(header)
    print('|' + '---|' * (1 + 2 * len(args.sizes)))
    for name in cases:
        row = [f'| {name} ']
        for size in args.sizes:
            t, base = results[(name, size)], results[('plain masked L1', size)]
            row.append(f'| {t * 1e3:.1f} | {t / base:.1f}x ')
        print(''.join(row) + '|')
    print(f'\nfeature alignment, {args.batch}x{feats.shape[1]}x{feats.shape[2]} tokens: '
          f'{feat_time * 1e3:.1f} ms')


if __name__ == '__main__':
    main()
