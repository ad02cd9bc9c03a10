"""Rendering speed of the synthetic world (samples per second on one core).

    python tools/analysis/benchmark_synthetic.py [--size 256] [--num 60] [--repeats 3]

Prints the median over repeats of samples/s for ``render_scene`` at size x size,
rooms and streets mixed, with numpy and torch restricted to one thread.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MKL_NUM_THREADS', '1')

from mmdistilldepth.datasets import render_scene  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--num', type=int, default=60)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    render_scene(0, 0, args.size, args.size)  # warm-up
    rates = []
    for r in range(args.repeats):
        start = time.perf_counter()
        for i in range(args.num):
            render_scene(r, i, args.size, args.size)
        rates.append(args.num / (time.perf_counter() - start))
    print(f'| size | samples/s (median of {args.repeats}) | min | max |')
    print('|---|---|---|---|')
    print(
        f'| {args.size}x{args.size} | {statistics.median(rates):.1f} | {min(rates):.1f} | '
        f'{max(rates):.1f} |'
    )


if __name__ == '__main__':
    main()
