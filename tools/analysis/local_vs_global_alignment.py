r"""Figure 2 of the paper: global vs local least-squares alignment, scored on a crop.

    python tools/analysis/local_vs_global_alignment.py MODEL IMAGES_WITH_GT \\
        [--checkpoint CKPT] [--input-size 518] [--num-images N] \\
        [--out docs/_static/local_vs_global_alignment.png] [--title TEXT]

For every image the model's affine-invariant prediction is aligned to the ground truth
by least squares (``--alignment``, default in disparity as the DAv2 benchmarks do)
twice: once fitted on the **full image** ("global", then cropped) and once fitted on
the **central w/2 x h/2 crop** only ("local"). Both are scored on the crop (AbsRel,
delta1 over the benchmark's valid pixels in the crop) and averaged over images. If the
local fit scores better, a global scale and shift costs local accuracy, the paper's
argument for normalizing in local contexts (section 3.1, Fig. 2).

MODEL: a config (its student for a distiller config) with ``--checkpoint``, or a
checkpoint / hub id alone (:func:`mmdistilldepth.apis.init_model`); ``-`` when
IMAGES_WITH_GT already holds the predictions.

IMAGES_WITH_GT:

- a config whose ``test_dataloader.dataset`` is a benchmark (e.g.
  ``configs/_base_/datasets/nyu.py``, or the quickstart config: the synthetic
  NYUv2-layout set, written on first use); its loading transforms are used, the
  resize and packing are not (the model's own preprocessing runs, as in tools/infer.py);
- ``synthetic-nyu``: the quickstart's synthetic NYUv2-layout set (40 rooms);
- an ``.npz`` of predictions and GT, ``NAME__pred`` / ``NAME__gt`` (/ ``NAME__valid_mask``),
  e.g. the fixtures' ``eval_reference/inputs.npz`` (``--benchmark`` names the protocol).

Writes the bar plot (PNG) to ``--out`` and prints a markdown table; ``--json`` also
writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os.path as osp
import re
import sys
from typing import Dict, Iterator, List, Optional, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmdistilldepth.evaluation.functional.alignment import align_depth  # noqa: E402
from mmdistilldepth.evaluation.functional.depth_metrics import depth_error_metrics  # noqa: E402
from mmdistilldepth.evaluation.functional.protocols import (  # noqa: E402
    benchmark_valid_mask,
    get_protocol,
)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = osp.join(REPO_ROOT, 'configs', 'quickstart', 'cross_context_synthetic.py')


def central_crop(shape: Tuple[int, int]) -> Tuple[slice, slice]:
    """The central (h/2, w/2) window of an (h, w) image."""
    h, w = shape
    top, left = h // 4, w // 4
    return slice(top, top + h // 2), slice(left, left + w // 2)


def score_on_crop(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, benchmark: str, mode: str
) -> Dict[str, Dict[str, float]]:
    """AbsRel and delta1 on the central crop, after a global and after a local fit.

    Args:
        pred (Tensor): (H, W) affine-invariant prediction (disparity for
            ``least_square_disparity``).
        gt (Tensor): (H, W) ground-truth depth, 0 = missing.
        valid (Tensor): (H, W) bool, the benchmark's valid pixels.
        benchmark (str): the protocol whose depth range clips the aligned depth.
        mode (str): the alignment mode of :func:`align_depth`.

    Returns:
        dict: ``{'global': {'abs_rel', 'delta1'}, 'local': {...}}``.
    """
    protocol = get_protocol(benchmark)
    rows, cols = central_crop(tuple(gt.shape))
    crop_valid = valid[rows, cols]
    if not bool(crop_valid.any()):
        raise ValueError('no valid ground-truth pixel in the central crop')
    full, _, _ = align_depth(pred, gt, valid, mode)
    local, _, _ = align_depth(pred[rows, cols], gt[rows, cols], crop_valid, mode)
    out = {}
    for name, aligned in (('global', full[rows, cols]), ('local', local)):
        aligned = aligned.clamp(protocol.min_depth, protocol.max_depth)
        metrics = depth_error_metrics(aligned, gt[rows, cols], crop_valid)
        out[name] = {k: float(metrics[k]) for k in ('abs_rel', 'delta1')}
    return out


def _from_npz(path: str, benchmark: Optional[str], cases: Optional[str]) -> Iterator[tuple]:
    data = np.load(path)
    names = sorted({k.split('__')[0] for k in data.files if k.endswith('__pred')})
    names = [n for n in names if cases is None or re.fullmatch(cases, n)]
    for name in names:
        bench = benchmark or re.sub(r'_\d+$', '', name)
        gt = torch.from_numpy(data[f'{name}__gt'])
        given = data.get(f'{name}__valid_mask') if hasattr(data, 'get') else None
        given = None if given is None else torch.from_numpy(given)
        valid = benchmark_valid_mask(
            gt, bench, given if get_protocol(bench).use_provided_mask else None
        )
        yield name, torch.from_numpy(data[f'{name}__pred']), gt, valid, bench


def _dataset_cfg(source: str):
    from mmengine.config import Config

    if source == 'synthetic-nyu':
        source = QUICKSTART
    cfg = Config.fromfile(source)
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not loader:
        raise ValueError(f'{source}: no test_dataloader / val_dataloader with a benchmark dataset')
    dataset = (
        loader['dataset'].to_dict()
        if hasattr(loader['dataset'], 'to_dict')
        else dict(loader['dataset'])
    )
    dataset['pipeline'] = [
        t
        for t in dataset.get('pipeline', [])
        if t['type'] in ('LoadRGBImage', 'LoadDepthAnnotation')
    ]
    return dataset


def _from_dataset(source: str, model, input_size, num_images):
    from mmdistilldepth.apis import inference_depth
    from mmdistilldepth.registry import DATASETS

    dataset = DATASETS.build(_dataset_cfg(source))
    benchmark = dataset.metainfo.get('benchmark', 'nyu')
    for i in range(min(len(dataset), num_images or len(dataset))):
        sample = dataset[i]
        gt = torch.from_numpy(np.asarray(sample['gt_depth'], dtype=np.float32))
        given = sample.get('gt_valid_mask')
        given = None if given is None else torch.from_numpy(np.asarray(given, dtype=bool))
        valid = benchmark_valid_mask(gt, benchmark, given)
        pred = torch.from_numpy(inference_depth(model, sample['img'], input_size=input_size))
        yield osp.basename(sample.get('img_path', str(i))), pred, gt, valid, benchmark


def evaluate(samples, mode: str) -> Tuple[Dict[str, Dict[str, float]], List[dict]]:
    """Mean AbsRel / delta1 on the crop over images, and the per-image numbers."""
    per_image = []
    for name, pred, gt, valid, bench in samples:
        scores = score_on_crop(pred.float(), gt.float(), valid, bench, mode)
        per_image.append(dict(name=name, **scores))
    if not per_image:
        raise ValueError('no image to evaluate')
    mean = {
        fit: {m: float(np.mean([r[fit][m] for r in per_image])) for m in ('abs_rel', 'delta1')}
        for fit in ('global', 'local')
    }
    return mean, per_image


def plot(mean: Dict[str, Dict[str, float]], out: str, title: str) -> None:
    """Two panels (AbsRel, delta1), a bar per alignment, values on the bars."""
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
    colors = {'global': '#c44e52', 'local': '#4c72b0'}
    labels = {'global': 'Global LS\n(fit on full image)', 'local': 'Local LS\n(fit on crop)'}
    for ax, (metric, nice) in zip(axes, (('abs_rel', 'AbsRel ↓'), ('delta1', 'δ1 ↑'))):
        values = [mean[f][metric] for f in ('global', 'local')]
        bars = ax.bar([labels['global'], labels['local']], values, color=list(colors.values()))
        for bar, v in zip(bars, values):
            ax.text(bar.get_x() + bar.get_width() / 2, v, f'{v:.4f}', ha='center', va='bottom')
        ax.set_title(f'{nice} on the central w/2 x h/2 crop', fontsize=9)
        ax.set_ylim(0, max(values) * 1.2)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'model', help="config, checkpoint or hub id; '-' for an .npz of predictions"
    )
    parser.add_argument('images_with_gt', help="a benchmark config, 'synthetic-nyu' or an .npz")
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--input-size', type=int, default=None, help='network size (DAv2: 518)')
    parser.add_argument('--num-images', type=int, default=None)
    parser.add_argument(
        '--alignment',
        default='least_square_disparity',
        choices=('least_square', 'least_square_disparity'),
    )
    parser.add_argument('--benchmark', default=None, help='protocol of an .npz (default: by name)')
    parser.add_argument('--cases', default=None, help='regex on the .npz case names')
    parser.add_argument('--out', default='local_vs_global_alignment.png')
    parser.add_argument('--title', default=None)
    parser.add_argument('--json', default=None, help='also write the numbers here')
    args = parser.parse_args(argv)

    if args.images_with_gt.endswith('.npz'):
        samples = _from_npz(args.images_with_gt, args.benchmark, args.cases)
        what = osp.basename(args.images_with_gt)
    else:
        if args.model == '-':
            parser.error('MODEL is needed to predict on a dataset')
        from mmdistilldepth.apis import init_model

        model = init_model(args.model, args.checkpoint)
        samples = _from_dataset(args.images_with_gt, model, args.input_size, args.num_images)
        what = f'{osp.basename(args.model)} on {args.images_with_gt}'
    mean, per_image = evaluate(samples, args.alignment)
    title = args.title or f'{what}: {len(per_image)} images, {args.alignment}'
    plot(mean, args.out, title)
    print(f'{title}\n')
    print('| alignment fitted on | AbsRel on the crop ↓ | δ1 on the crop ↑ |')
    print('|---|---|---|')
    for fit, label in (('global', 'the full image (global)'), ('local', 'the crop (local)')):
        print(f'| {label} | {mean[fit]["abs_rel"]:.4f} | {mean[fit]["delta1"]:.4f} |')
    print(f'\nwrote {args.out}', file=sys.stderr)
    result = dict(title=title, mean=mean, per_image=per_image, alignment=args.alignment)
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
