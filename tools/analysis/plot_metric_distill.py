r"""Figures of the metric-distillation quickstart (configs/metric_distill/, docs).

Reads finished runs of
``configs/metric_distill/metric-distill_dav2-tiny-metric_simulated-metric_1xb4-600it_synthetic-112.py``
with different ``model.metric_zoom`` and writes:

- ``docs/_static/metric_distill_curve.png``: the validation AbsRel without alignment
  (synthetic NYUv2-layout set) over the iterations of every run;
- ``docs/_static/metric_distill_panel.png``: for validation images, RGB | ground
  truth | each run's student (last checkpoint), in metres on one scale.

    python tools/train.py configs/metric_distill/<config> --work-dir work_dirs/md_local
    python tools/train.py configs/metric_distill/<config> --work-dir work_dirs/md_none \\
        --cfg-options model.metric_zoom=False
    python tools/analysis/plot_metric_distill.py work_dirs/md_local=local work_dirs/md_none=off
"""

from __future__ import annotations

import argparse
import glob
import json
import os.path as osp

import cv2
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mmdistilldepth.apis import init_model  # noqa: E402
from mmdistilldepth.apis.preprocessing import prepare_dav2_input  # noqa: E402
from mmdistilldepth.visualization.colormap import colorize, panel_row, to_bgr  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STATIC = osp.join(REPO_ROOT, 'docs', '_static')


def val_curve(work_dir: str):
    """(iterations, abs_rel) of the validations logged in a run's scalars.json."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    steps, values = [], []
    for line in open(files[-1], encoding='utf-8'):
        record = json.loads(line)
        if 'abs_rel' in record:
            steps.append(int(record.get('step', 0)))
            values.append(float(record['abs_rel']))
    return steps, values


def last_checkpoint(work_dir: str) -> str:
    files = glob.glob(osp.join(work_dir, 'iter_*.pth'))
    return max(files, key=lambda f: int(osp.basename(f)[5:-4]))


def config_of(work_dir: str) -> str:
    return sorted(glob.glob(osp.join(work_dir, '*.py')))[0]


@torch.no_grad()
def predict(model, rgb: np.ndarray, size: int) -> np.ndarray:
    """Metric depth at the image size (DAv2 preprocessing at ``size``)."""
    x = torch.from_numpy(prepare_dav2_input(rgb, size))
    depth = model(x, mode='tensor')
    return F.interpolate(depth, rgb.shape[:2], mode='bilinear', align_corners=True)[0, 0].numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', metavar='WORK_DIR=LABEL', help='runs to compare')
    parser.add_argument('--val-root', default='data/synthetic_nyu')
    parser.add_argument('--num-images', type=int, default=3)
    parser.add_argument('--input-size', type=int, default=126)
    args = parser.parse_args()

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    runs = [tuple(r.split('=', 1)) for r in args.runs]
    for work_dir, label in runs:
        steps, values = val_curve(work_dir)
        ax.plot(steps, values, marker='o', label=label)
        print(f'{label}: ' + ', '.join(f'{s}: {v:.4f}' for s, v in zip(steps, values)))
    ax.set_yscale('log')
    ax.set_xlabel('iteration')
    ax.set_ylabel('AbsRel, no alignment (log)')
    ax.legend(title='metric_zoom')
    ax.set_title('Metric distillation, synthetic world')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(osp.join(STATIC, 'metric_distill_curve.png'), dpi=120)

    models = [init_model(config_of(d), last_checkpoint(d)) for d, _ in runs]
    rgbs = sorted(glob.glob(osp.join(args.val_root, 'test', '*', 'rgb_*.png')))[: args.num_images]
    rows = []
    for path in rgbs:
        rgb = cv2.imread(path)[..., ::-1].copy()
        gt = cv2.imread(path.replace('rgb_', 'depth_'), cv2.IMREAD_UNCHANGED) / 1000.0
        valid = gt > 0
        preds = [predict(m, rgb, args.input_size) for m in models]
        rng = (0.0, float(np.percentile(gt[valid], 98)))
        rel = [float(np.mean(np.abs(p[valid] - gt[valid]) / gt[valid])) for p in preds]
        panels = [(rgb, 'RGB', None, 'inferno')]
        panels.append((colorize(gt, valid, rng, 'turbo'), 'GT (m)', rng, 'turbo'))
        for pred, (_, name), err in zip(preds, runs, rel):
            panels.append((colorize(pred, None, rng, 'turbo'), f'{name} {err:.3f}', rng, 'turbo'))
        name = f'{osp.basename(osp.dirname(path))}/{osp.basename(path)}'
        rows.append(panel_row(panels, caption=f'{name}: depth in metres, AbsRel'))
    cv2.imwrite(osp.join(STATIC, 'metric_distill_panel.png'), to_bgr(np.concatenate(rows, axis=0)))


if __name__ == '__main__':
    main()
