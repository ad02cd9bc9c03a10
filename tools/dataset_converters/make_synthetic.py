"""Write rendered scenes in the on-disk layout of a zero-shot benchmark.

    python tools/dataset_converters/make_synthetic.py --format {nyu,kitti,eth3d,diode,scannet}
        --num N --out DIR [--seed S] [--height H --width W] [--render-scale K]

The files have the benchmark's real formats, folder structure and split list (see
docs/datasets.md), so every reader and ``tools/test.py`` run on them as on the real
data; the ground truth is exact, so a perfect model scores AbsRel 0.
"""

import argparse

from mmdistilldepth.datasets.synthetic_benchmarks import (
    SYNTHETIC_FORMATS,
    write_synthetic_benchmark,
)
from mmdistilldepth.utils import UserInputError, one_line_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Synthetic scenes in a benchmark layout.')
    parser.add_argument('--format', required=True, choices=sorted(SYNTHETIC_FORMATS))
    parser.add_argument('--num', type=int, required=True, help='number of samples')
    parser.add_argument('--out', required=True, help='the data root to write')
    parser.add_argument('--seed', type=int, default=0, help='scene family seed')
    parser.add_argument(
        '--height', type=int, help='image height (default: the real one; ETH3D: 1/8 of 4032)'
    )
    parser.add_argument('--width', type=int, help='image width')
    parser.add_argument(
        '--render-scale',
        type=int,
        default=1,
        help='render at 1/K resolution and enlarge (nearest), for quick tests',
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('make_synthetic.py'):
        if args.num < 1:
            raise UserInputError(f'--num must be at least 1, got {args.num}')
        if (args.height is None) != (args.width is None):
            raise UserInputError('give both --height and --width, or neither')
        size = (args.height, args.width) if args.height else None
        split = write_synthetic_benchmark(
            args.format, args.out, args.num, args.seed, size, args.render_scale
        )
        print(f'wrote {args.num} {args.format} samples to {args.out} (split list {split})')


if __name__ == '__main__':
    main()
