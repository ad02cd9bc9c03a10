"""Draw the normalization contexts of each grouping on a synthetic disparity map.

Writes ``docs/_static/normalization_contexts.png``::

    python tools/analysis/plot_normalization_contexts.py [--out PATH]
"""

from __future__ import annotations

import argparse
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmdistilldepth.models.losses import build_contexts  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def synthetic_disparity(height: int = 120, width: int = 160) -> np.ndarray:
    """A floor receding to a slanted far wall, with three boxes at different depths."""
    rows = np.arange(height, dtype=np.float64)[:, None]
    cols = np.arange(width, dtype=np.float64)[None, :]
    horizon = 0.35 * height
    floor = 2.0 + 40.0 / np.maximum(rows - horizon + 4.0, 1.0)
    wall = 10.0 + 4.0 * cols / width  # a slanted far wall
    depth = np.where(rows > horizon, floor, wall)
    for top, bottom, left, right, box_depth in [
        (50, 105, 10, 50, 3.0),
        (30, 70, 70, 100, 7.0),
        (60, 112, 115, 150, 2.2),
    ]:
        depth[top:bottom, left:right] = box_depth
    return 1.0 / depth  # disparity, as the teachers predict


def context_map(disparity: torch.Tensor, grouping: str, segments: int) -> np.ndarray:
    """Label of each pixel's context at one level (-1 where it has none)."""
    mask = torch.ones_like(disparity, dtype=torch.bool)
    contexts = build_contexts(disparity, mask, 'hybrid', grouping, (segments,))
    labels = contexts.ids[0, 0].view(contexts.shape).numpy()
    return np.where(labels < contexts.num_contexts, labels, -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--out', default=osp.join(REPO_ROOT, 'docs', '_static', 'normalization_contexts.png')
    )
    args = parser.parse_args()

    disparity_np = synthetic_disparity()
    disparity = torch.from_numpy(disparity_np)[None, None]
    panels = [
        ('teacher disparity', disparity_np, 'magma'),
        ('global: 1 context', context_map(disparity, 'range', 1), 'tab10'),
        ('hybrid range, S=2', context_map(disparity, 'range', 2), 'tab10'),
        ('hybrid range, S=4 (= local)', context_map(disparity, 'range', 4), 'tab10'),
        ('quantile, S=2', context_map(disparity, 'quantile', 2), 'tab10'),
        ('quantile, S=4', context_map(disparity, 'quantile', 4), 'tab10'),
        ('spatial, S=2', context_map(disparity, 'spatial', 2), 'tab20'),
        ('spatial, S=4', context_map(disparity, 'spatial', 4), 'tab20'),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(10, 4.2))
    for ax, (title, image, cmap) in zip(axes.flat, panels):
        ax.imshow(
            image,
            cmap=cmap,
            interpolation='nearest',
            vmin=None if cmap == 'magma' else 0,
            vmax=None if cmap == 'magma' else (9 if cmap == 'tab10' else 19),
        )
        ax.set_title(title, fontsize=9)
        ax.axis('off')
    fig.suptitle(
        'Normalization contexts (colour = context) built from the teacher map; '
        'hybrid uses S = 1, 2, 4 together',
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f'wrote {args.out} ({osp.getsize(args.out) / 1024:.0f} KB)')


if __name__ == '__main__':
    main()
