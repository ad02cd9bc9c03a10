"""Time the distillation losses (forward + backward) against a plain masked L1.

Every loss runs in the same process on the same inputs, interleaved round by round,
so the ratios to the plain masked L1 are measured side by side in one run. Eager
rows are divided by the eager plain L1; the ``torch.compile`` rows (the plain L1 and
the hybrid range loss, both compiled with ``fullgraph=True``) by the compiled plain
L1. Prints a markdown table (median of the repeats)::

    python tools/analysis/benchmark_losses.py --size 560 --batch 4 --threads 2

``--cases hybrid`` keeps the rows whose name contains a word (the plain L1 rows are
always kept); ``--profile`` then prints where the time of the hybrid range loss goes
(torch profiler, top aten ops, eager).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Tuple

import torch

from mmdistilldepth.models.losses import (
    FeatureAlignmentLoss,
    GradientMatchingLoss,
    NormalizedL1Loss,
)

HYBRID_RANGE = 'hybrid range (1,2,4)'


def plain_masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return ((pred - target).abs() * mask).sum() / mask.sum().clamp(min=1)


def losses(compiled: bool) -> Dict[str, Tuple[Callable, str]]:
    """Name -> (loss, name of the baseline it is divided by)."""
    cases: Dict[str, Tuple[Callable, str]] = {
        'plain masked L1': (plain_masked_l1, 'plain masked L1')
    }
    for name, cfg in [
        ('none', dict(normalization='none')),
        ('global', dict(normalization='global')),
        (HYBRID_RANGE, dict(normalization='hybrid', grouping='range')),
        ('hybrid quantile (1,2,4)', dict(normalization='hybrid', grouping='quantile')),
        ('hybrid spatial (1,2,4)', dict(normalization='hybrid', grouping='spatial')),
        ('local range (4)', dict(normalization='local', grouping='range')),
    ]:
        cases[name] = (NormalizedL1Loss(**cfg), 'plain masked L1')
    cases['gradient matching (4 scales)'] = (GradientMatchingLoss(scales=4), 'plain masked L1')
    if compiled:
        base = 'plain masked L1, compiled'
        cases[base] = (torch.compile(plain_masked_l1, fullgraph=True), base)
        cases[HYBRID_RANGE + ', compiled'] = (
            torch.compile(
                NormalizedL1Loss(normalization='hybrid', grouping='range'), fullgraph=True
            ),
            base,
        )
    return cases


def time_cases(
    cases: Dict[str, Callable],
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    repeats: int,
    warmup: int = 2,
    clock: Callable[[], float] = time.perf_counter,
    stat: Callable = statistics.median,
) -> Dict[str, float]:
    """Median (or ``stat``) seconds of forward + backward of every case.

    The cases are interleaved (one run of each per round, after warm-up rounds that
    also compile), so a slow spell of a shared machine hits them all alike.
    """
    times: Dict[str, List[float]] = {name: [] for name in cases}
    for round_ in range(repeats + warmup):
        for name, fn in cases.items():
            pred.grad = None
            if pred.is_cuda:
                torch.cuda.synchronize()
            start = clock()
            fn(pred, target, mask).backward()
            if pred.is_cuda:
                torch.cuda.synchronize()
            if round_ >= warmup:
                times[name].append(clock() - start)
    return {name: stat(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=560)
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--repeats', type=int, default=21)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--no-compile', action='store_true', help='skip the torch.compile rows')
    parser.add_argument(
        '--cases', nargs='*', default=None, help='keep only the rows whose name contains a word'
    )
    parser.add_argument(
        '--profile', action='store_true', help='print the top ops of the hybrid range loss'
    )
    parser.add_argument(
        '--cpu-time',
        action='store_true',
        help='time the process CPU time and keep the minimum (on a loaded machine, with '
        '--threads 1: descheduled time then does not count)',
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    shape = (args.batch, 1, args.size, args.size)
    target = torch.rand(shape, device=device) * 10 + 0.1
    pred = (target * 0.5 + torch.rand(shape, device=device)).requires_grad_()
    mask = torch.rand(shape, device=device) > 0.1
    cases = losses(not args.no_compile)
    if args.cases:
        cases = {
            name: case
            for name, case in cases.items()
            if name.startswith('plain') or any(word in name for word in args.cases)
        }
    clock, stat = time.perf_counter, statistics.median
    if args.cpu_time:
        clock, stat = time.process_time, min
    results = time_cases(
        {name: fn for name, (fn, _) in cases.items()},
        pred,
        target,
        mask,
        args.repeats,
        clock=clock,
        stat=stat,
    )

    # Feature alignment runs on (B, N, C) tokens, not on depth maps.
    feats = torch.randn(args.batch, (518 // 14) ** 2, 1024, device=device)
    student = (feats + torch.randn_like(feats)).requires_grad_()
    feat_time = time_cases({'feat': FeatureAlignmentLoss()}, student, feats, None, args.repeats)[
        'feat'
    ]

    where = (
        torch.cuda.get_device_name(device)
        if device.type == 'cuda'
        else f'{platform.processor() or platform.machine()} CPU ({os.cpu_count()} cores, '
        f'load average {os.getloadavg()[0]:.1f})'
    )
    print(
        f'forward + backward, B={args.batch}, {args.size}x{args.size}, float32, '
        f'{where}, torch threads: {torch.get_num_threads()}, '
        f'{"minimum CPU time" if args.cpu_time else "median"} of {args.repeats}; '
        f'torch {torch.__version__}\n'
    )
    print('| loss | ms | ratio to | ratio |')
    print('|---|---|---|---|')
    for name, (_, base) in cases.items():
        t = results[name]
        print(f'| {name} | {t * 1e3:.1f} | {base} | {t / results[base]:.1f}x |')
    print(
        f'\nfeature alignment, {args.batch}x{feats.shape[1]}x{feats.shape[2]} tokens: '
        f'{feat_time * 1e3:.1f} ms'
    )
    if args.profile:
        print_profile(cases[HYBRID_RANGE][0], pred, target, mask)


def print_profile(loss: Callable, pred, target, mask, rows: int = 15) -> None:
    """Self time of the top aten ops of one forward + backward (after a warm-up)."""
    from torch.profiler import profile

    pred.grad = None
    loss(pred, target, mask).backward()
    with profile(record_shapes=True) as prof:
        pred.grad = None
        loss(pred, target, mask).backward()
    events = sorted(
        prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total
    )
    total = sum(e.self_cpu_time_total for e in events)
    print(f'\n{HYBRID_RANGE}, eager, where the time goes (self time, profiler on):\n')
    print('| op | input shapes | calls | ms | share |')
    print('|---|---|---|---|---|')
    for e in events[:rows]:
        shapes = ', '.join(str(tuple(s)) for s in e.input_shapes if s)
        print(
            f'| {e.key} | {shapes[:60]} | {e.count} | {e.self_cpu_time_total / 1e3:.1f} | '
            f'{e.self_cpu_time_total / total:.0%} |'
        )


if __name__ == '__main__':
    main()
