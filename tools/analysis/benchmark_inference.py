"""Fused SDPA vs plain softmax attention for Depth Anything V2 inference.

    python tools/analysis/benchmark_inference.py [--encoder vits] [--size 518 686]
        [--weights PATH] [--repeats 7] [--batch 1] [--device cpu] [--threads N]

Builds one model (the given weights, e.g. the ``dav2_vits`` fixture, or a seeded
random init) and times the same forward with the encoder's attention fused
(``F.scaled_dot_product_attention``) and plain (``softmax(q k^T / sqrt(d)) v``),
interleaving the two so that load changes on a shared machine hit both alike.
Prints a Markdown table with the median wall time and the median process CPU time
(all threads; on a shared machine it does not count the time spent waiting for a
core, so it is the steadier of the two) per forward, the speed-up ratios and the
maximum absolute output difference.
"""

import argparse
import platform
import statistics
import time
from typing import Dict, List, Optional, Sequence

import torch

from mmdistilldepth.models.checkpoint_loading import load_depth_checkpoint
from mmdistilldepth.models.estimators import DepthAnythingV2


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Fused vs plain attention benchmark.')
    parser.add_argument('--encoder', default='vits', choices=['vits', 'vitb', 'vitl', 'vitg'])
    parser.add_argument('--size', type=int, nargs=2, default=(518, 686), metavar=('H', 'W'))
    parser.add_argument('--weights', help='checkpoint to load (default: seeded random init)')
    parser.add_argument('--repeats', type=int, default=7, help='timed forwards per variant')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, help="torch CPU threads (default: torch's)")
    return parser.parse_args(argv)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def benchmark(
    model: DepthAnythingV2, image: torch.Tensor, repeats: int, warmup: int
) -> Dict[str, object]:
    """Median seconds per forward for fused and plain attention, and the outputs."""
    wall: Dict[str, List[float]] = {'fused': [], 'plain': []}
    cpu: Dict[str, List[float]] = {'fused': [], 'plain': []}
    outputs = {}
    device = image.device
    with torch.inference_mode():
        for step in range(warmup + repeats):
            for name in ('fused', 'plain'):
                model.set_fused_attn(name == 'fused')
                _sync(device)
                start, start_cpu = time.perf_counter(), time.process_time()
                outputs[name] = model(image)
                _sync(device)
                if step >= warmup:
                    wall[name].append(time.perf_counter() - start)
                    cpu[name].append(time.process_time() - start_cpu)
    model.set_fused_attn(True)
    return dict(
        median={k: statistics.median(v) for k, v in wall.items()},
        spread={k: (min(v), max(v)) for k, v in wall.items()},
        cpu={k: statistics.median(v) for k, v in cpu.items()},
        max_diff=float((outputs['fused'] - outputs['plain']).abs().max()),
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = DepthAnythingV2(args.encoder).eval()
    source = 'random init (seed 0)'
    if args.weights:
        load_depth_checkpoint(model, args.weights)
        source = args.weights
    device = torch.device(args.device)
    model.to(device)
    image = torch.randn(args.batch, 3, *args.size, generator=torch.Generator().manual_seed(1))
    result = benchmark(model, image.to(device), args.repeats, args.warmup)
    med, spread, cpu = result['median'], result['spread'], result['cpu']
    print(
        f'DAv2-{args.encoder[-1].upper()} ({source}), input {args.batch}x3x'
        f'{args.size[0]}x{args.size[1]}, {device}, {torch.get_num_threads()} threads, '
        f'torch {torch.__version__}, {platform.processor() or platform.machine()}; '
        f'median of {args.repeats} (after {args.warmup} warm-up), interleaved\n'
    )
    print('| attention | median wall s/forward | wall min - max s | median CPU s/forward |')
    print('|---|---|---|---|')
    for name in ('plain', 'fused'):
        print(
            f'| {name} | {med[name]:.3f} | {spread[name][0]:.3f} - {spread[name][1]:.3f} '
            f'| {cpu[name]:.3f} |'
        )
    print(
        f'\nspeed-up fused vs plain: {med["plain"] / med["fused"]:.2f}x (median wall), '
        f'{cpu["plain"] / cpu["fused"]:.2f}x (median CPU time); '
        f'max |fused - plain| output difference: {result["max_diff"]:.2e}'
    )
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
