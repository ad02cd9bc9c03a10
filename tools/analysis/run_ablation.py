"""The paper's Tables 1 and 2 reproduced in miniature, in the synthetic world.

    python tools/analysis/run_ablation.py [--seeds 0 1] [--iters 600] [--out docs/ablation.md]

Each setting of ``configs/cross_context/ablations/`` is applied to the quickstart config
(the same model overrides, read from the ablation config files themselves, so the two
cannot drift apart) and trained for ``--iters`` iterations per seed; the student is then
evaluated on the synthetic NYUv2-layout set. The script writes a markdown table of
AbsRel and delta1 (mean +- std over seeds) into ``--out`` with the paper's numbers
beside it, the time it took, and, per table, whether the best setting here is the
paper's best (or that the settings are within seed noise of each other).
"""

import argparse
import ast
import glob
import json
import os
import os.path as osp
import re
import statistics
import sys
import time

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmdistilldepth.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'cross_context_synthetic.py')
ABLATIONS = osp.join(ROOT, 'configs', 'cross_context', 'ablations')

#: the paper's numbers (ETH3D AbsRel, DIODE AbsRel) for each ablation setting, the
#: ``{setting}`` field of the config's name (configs/README.md)
PAPER = {
    'table1-shared-context-global': (0.064, 0.259),
    'table1-shared-context-none': (0.057, 0.239),
    'table1-shared-context-local': (0.070, 0.245),
    'table1-shared-context-hybrid': (0.057, 0.238),
    'table1-local-global-global': (0.065, 0.239),
    'table1-local-global-none': (0.273, 0.300),
    'table1-local-global-local': (0.076, 0.244),
    'table1-local-global-hybrid': (0.064, 0.238),
    'table2-baseline': (0.075, 0.270),
    'table2-shared-context': (0.064, 0.238),
    'table2-local-global': (0.058, 0.237),
    'table2-both': (0.056, 0.232),
}


def setting_name(path: str) -> str:
    """The ``{setting}`` field of an ablation config's name, e.g. ``table1-local-global-none``."""
    match = re.search(r'_(table\d+-[a-z0-9-]+)_', osp.basename(path))
    if match is None:
        raise ValueError(
            f'{path}: an ablation config names its table and setting, '
            'e.g. ..._table1-local-global-none_1xb8-20k_sa1b-560.py'
        )
    return match.group(1)


def leaf_overrides(path: str) -> dict:
    """What an ablation config changes in the model over its base (``model = ...``).

    Only the model part applies to the synthetic world: the rest (e.g. the paper's 50k
    SA-1B subset, ``train_dataloader``) is about the real data.
    """
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    tree.body = [
        node
        for node in tree.body
        if not (
            isinstance(node, ast.Assign)
            and any(getattr(t, 'id', None) == '_base_' for t in node.targets)
        )
    ]
    cfg = Config.fromstring(ast.unparse(tree), file_format='.py').to_dict()
    return {'model': cfg['model']} if 'model' in cfg else {}


def build_cfg(
    name: str, overrides: dict, seed: int, iters: int, work_root: str, val_samples: int
) -> Config:
    cfg = Config.fromfile(QUICKSTART)
    cfg.merge_from_dict(overrides)
    cfg.work_dir = osp.join(work_root, f'{name}_seed{seed}')
    cfg.experiment_name = f'ablation_{name}_seed{seed}'
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.train_dataloader.dataset.seed = seed
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1  # evaluate once, after training
    warmup = max(1, min(cfg.param_scheduler[0].end, iters // 4))
    cfg.param_scheduler[0].end = warmup
    cfg.param_scheduler[-1].begin = warmup
    cfg.param_scheduler[-1].end = iters
    cfg.custom_hooks = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1, save_last=False)
    cfg.default_hooks.logger.interval = max(iters // 4, 1)
    # its own copy of the validation set (same seed, so the same scenes as the
    # quickstart's): a different --val-samples must not rewrite the shared one
    cfg.val_dataloader.dataset.num_samples = val_samples
    cfg.val_dataloader.dataset.data_root = osp.join(work_root, 'synthetic_nyu')
    cfg.log_level = 'WARNING'
    return cfg


def fmt(values) -> str:
    if len(values) == 1:
        return f'{values[0]:.4f}'
    return f'{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}'


def teacher_detail(cfg: Config, num_images: int = 32) -> dict:
    """How much finer the teacher's local patches are than its whole-image prediction.

    For synthetic training images of ``cfg`` (with their local patches from its
    pipeline), the teacher predicts (a) the whole image (the global view, as in
    Table 2's baseline) and (b) each local patch. Both are compared with the true
    disparity on the patch after a least-squares fit in disparity: AbsRel of (a) cut at
    the patch and of (b). Their ratio is what local-global distillation can add.
    """
    import torch
    from mmengine.dataset import pseudo_collate

    from mmdistilldepth.evaluation.functional.alignment import NoValidPixelError, align_values
    from mmdistilldepth.models.distillers import crop_resize
    from mmdistilldepth.registry import DATASETS, MODELS

    model = MODELS.build(cfg.model)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    errors = {'whole image, cut at the patch': [], 'the patch itself': []}
    for i in range(num_images):
        data = model.data_preprocessor(pseudo_collate([dataset[i]]), True)
        views = model._views(data['inputs'], data['data_samples'])
        t_whole = model._teacher_views([views['global']])[0]
        t_local = model._teacher_views([views['local']])[0]
        n = len(views['local'])
        boxes = views['boxes']['local'].flatten(0, 1)
        index = torch.zeros(n, dtype=torch.long)
        whole_cut = crop_resize(t_whole, boxes, index, model.train_size)
        truth = views['local'][:, 3:]  # the true disparity of each patch
        for name, pred in (
            ('whole image, cut at the patch', whole_cut),
            ('the patch itself', t_local),
        ):
            for p, t in zip(pred, truth):
                valid = t > 0
                if int(valid.sum()) < 64:  # a patch of sky: nothing to compare
                    continue
                try:
                    depth, _, _ = align_values(p[valid], 1.0 / t[valid], 'least_square_disparity')
                except NoValidPixelError:
                    continue
                gt = 1.0 / t[valid]
                errors[name].append(float(((depth - gt).abs() / gt).mean()))
    return {k: statistics.mean(v) for k, v in errors.items()}


def merge_results(roots) -> dict:
    """The runs of several work roots (one process per seed) as one results.json."""
    merged = None
    for root in roots:
        with open(osp.join(root, 'results.json')) as f:
            saved = json.load(f)
        if merged is None:
            merged = dict(saved, results={}, seeds=[], minutes=0.0)
        for name, runs in saved['results'].items():
            merged['results'].setdefault(name, []).extend(runs)
        merged['seeds'] = sorted(set(merged['seeds']) | set(saved['seeds']))
        merged['minutes'] = max(merged['minutes'], saved['minutes'])  # they ran side by side
    for runs in merged['results'].values():
        runs.sort(key=lambda r: r['seed'])
    return merged


GROUPS = {
    'Table 1, shared-context distillation only': 'table1-shared-context-',
    'Table 1, local-global distillation only': 'table1-local-global-',
    'Table 2, cross-context modes': 'table2-',
}


def compare(results: dict) -> list:
    """Per group: the paper's order (by DIODE AbsRel) against ours, in plain words.

    Two settings only count as ordered here when their means differ by more than the
    larger of their seed standard deviations; otherwise they are reported as tied.
    """
    lines = []
    for title, prefix in GROUPS.items():
        names = [n for n in results if n.startswith(prefix)]
        if len(names) < 2:
            continue
        ours = {n: [r['abs_rel'] for r in results[n]] for n in names}
        mean = {n: statistics.mean(v) for n, v in ours.items()}
        std = {n: statistics.stdev(v) if len(v) > 1 else 0.0 for n, v in ours.items()}
        paper_best = min(names, key=lambda n: PAPER[n][1])
        paper_worst = max(names, key=lambda n: PAPER[n][1])
        our_best = min(names, key=mean.get)
        spread = max(mean.values()) - min(mean.values())
        noise = max(std.values())
        short = lambda n: n[len(prefix) :]  # noqa: E731
        if spread <= noise:
            verdict = (
                f'all settings are within seed noise of each other (means span '
                f'{spread:.4f}, largest seed std {noise:.4f}): no trend to compare'
            )
        else:
            agree = 'agrees' if our_best == paper_best else 'disagrees'
            verdict = (
                f'best here: `{short(our_best)}`, best in the paper: '
                f'`{short(paper_best)}` ({agree}); means span {spread:.4f} against a '
                f'largest seed std of {noise:.4f}; worst in the paper: '
                f'`{short(paper_worst)}`, here {mean[paper_worst]:.4f}'
            )
        lines.append(f'- **{title}**: {verdict}.')
    return lines


def write_report(
    results: dict, minutes: float, iters: int, seeds, val_samples: int, out: str, options=None
) -> str:
    lines = [
        '| ablation setting | synthetic NYUv2 AbsRel ↓ | δ1 ↑ | paper ETH3D AbsRel | '
        'paper DIODE AbsRel |',
        '|---|---|---|---|---|',
    ]
    for name, runs in results.items():
        eth3d, diode = PAPER.get(name, (float('nan'), float('nan')))
        lines.append(
            f'| `{name}` | {fmt([r["abs_rel"] for r in runs])} | '
            f'{fmt([r["delta1"] for r in runs])} | {eth3d:.3f} | {diode:.3f} |'
        )
    summary = (
        f'{len(results)} settings x {len(seeds)} seeds ({", ".join(map(str, seeds))}), '
        f'{iters} iterations each, {val_samples} validation images; the whole run '
        f'took {minutes:.1f} min on 2 CPU cores (shared with other jobs).'
    )
    if options:
        summary += ' Every run with ' + ' '.join(f'`{k}={v}`' for k, v in options.items()) + '.'
    text = '\n'.join(
        [
            "# The paper's ablations in miniature (synthetic world)",
            '',
            'Made by `python tools/analysis/run_ablation.py` (see its docstring): every config '
            "of `configs/cross_context/ablations/` (the setting is the name's `{setting}` "
            'field) applied to the quickstart student and teacher, evaluated '
            "on the synthetic NYUv2-layout set; mean ± std over seeds. The paper's numbers "
            '(real data, DAv2, 50k SA-1B images) stand beside them for the trends only.',
            '',
            *lines,
            '',
            summary,
            '',
            '## Trends against the paper',
            '',
            *compare(results),
            '',
        ]
    )
    with open(out, 'w', encoding='utf-8') as f:
        f.write(text)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description='Tables 1-2 in the synthetic world.')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--iters', type=int, default=600)
    parser.add_argument('--val-samples', type=int, default=40)
    parser.add_argument(
        '--only', nargs='*', help='ablation settings to run, e.g. table1-local-global-none'
    )
    parser.add_argument('--work-root', default='work_dirs/ablation')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='applied to every run after the setting, e.g. a smaller world: '
        'model.train_size=[56,56] train_dataloader.dataset.height=84 (docs/ablation.md)',
    )
    parser.add_argument('--out', default='docs/ablation.md')
    parser.add_argument(
        '--teacher-detail',
        action='store_true',
        help="only measure how much finer the teacher's local patches are (no training)",
    )
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='rewrite the report from WORK_ROOT/results.json, no training',
    )
    parser.add_argument(
        '--resume',
        action='store_true',
        help='keep the runs already in WORK_ROOT/results.json and train only the others',
    )
    parser.add_argument(
        '--merge',
        nargs='+',
        default=None,
        help='with --report-only: the work roots whose results.json are merged (several '
        'processes, e.g. one per seed)',
    )
    args = parser.parse_args(argv)
    results_file = osp.join(args.work_root, 'results.json')
    if args.report_only:
        saved = merge_results(args.merge) if args.merge else json.load(open(results_file))
        text = write_report(
            saved['results'],
            saved['minutes'],
            saved['iters'],
            saved['seeds'],
            saved.get('val_samples', args.val_samples),
            args.out,
            saved.get('cfg_options'),
        )
        print(text)
        return text

    register_all_modules()
    if args.teacher_detail:
        cfg = Config.fromfile(QUICKSTART)
        cfg.merge_from_dict(args.cfg_options)
        detail = teacher_detail(cfg)
        for name, value in detail.items():
            print(f'teacher AbsRel on the local patches, {name}: {value:.4f}')
        return detail
    paths = sorted(glob.glob(osp.join(ABLATIONS, '*.py')))
    settings = {setting_name(p): leaf_overrides(p) for p in paths}
    if args.only:
        unknown = sorted(set(args.only) - set(settings))
        if unknown:
            parser.error(f'--only: unknown settings {unknown}; known: {sorted(settings)}')
        settings = {k: v for k, v in settings.items() if k in args.only}
    results = {}
    if args.resume and osp.isfile(results_file):
        with open(results_file) as f:
            results = json.load(f)['results']
    start = time.time()
    total = len(settings) * len(args.seeds)
    done = 0
    runs = {}  # settings whose model is the same (e.g. table1-shared-context-hybrid and
    # table2-shared-context) are trained once per seed and reported under each name

    def save():
        with open(results_file, 'w') as f:
            json.dump(
                dict(
                    results=results,
                    minutes=(time.time() - start) / 60,
                    iters=args.iters,
                    seeds=args.seeds,
                    val_samples=args.val_samples,
                    cfg_options=args.cfg_options,
                ),
                f,
                indent=1,
            )

    os.makedirs(args.work_root, exist_ok=True)
    for seed in args.seeds:  # seed-major: a run cut short still has every setting
        for name, overrides in settings.items():
            if any(r['seed'] == seed for r in results.get(name, [])):
                done += 1
                continue
            cfg = build_cfg(name, overrides, seed, args.iters, args.work_root, args.val_samples)
            cfg.merge_from_dict(args.cfg_options)
            key = (seed, json.dumps(cfg.model.to_dict(), sort_keys=True, default=str))
            if key not in runs:
                runner = Runner.from_cfg(cfg)
                runner.train()
                metrics = runner.val_loop.run()
                runs[key] = dict(
                    seed=seed, abs_rel=float(metrics['abs_rel']), delta1=float(metrics['delta1'])
                )
            result = runs[key]
            results.setdefault(name, []).append(dict(result))
            done += 1
            print(
                f'[{done}/{total}] {name} seed {seed}: abs_rel {result["abs_rel"]:.4f} '
                f'delta1 {result["delta1"]:.4f} ({time.time() - start:.0f} s so far)',
                file=sys.stderr,
                flush=True,
            )
            save()
    minutes = (time.time() - start) / 60
    save()
    text = write_report(
        results, minutes, args.iters, args.seeds, args.val_samples, args.out, args.cfg_options
    )
    print(text)
    return text


if __name__ == '__main__':
    main()
