"""Decode throughput of the mission config's train pipeline on SA-1B-sized JPEGs.

    python tools/analysis/benchmark_data.py [CONFIG] [--num-images 8] [--repeats 3]

Writes ``--num-images`` random-texture JPEGs of 1500x2250 (quality 90) into a temp
folder, then runs, in this one process (= one data worker, one thread), the dataset's
decode (``read_rgb``) plus the config's train pipeline, and reports images/s; and the
same with cv2's reduced-resolution decode (``IMREAD_REDUCED_COLOR_2``), noting whether
the pipeline's canvas allows it (the decoded short side must stay >= the canvas side).
"""

from __future__ import annotations

import argparse
import copy
import os.path as osp
import sys
import tempfile
import time

import cv2
import numpy as np


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', nargs='?', default='configs/cross_context_dav2_l.py')
    parser.add_argument('--num-images', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--size', type=int, nargs=2, default=(1500, 2250))
    args = parser.parse_args(argv)
    cv2.setNumThreads(0)
    from mmengine.dataset import Compose

    from mmdistilldepth.utils import load_config, register_all_modules
    from mmdistilldepth.utils.image_io import read_rgb

    register_all_modules()
    cfg = load_config(args.config)
    pipeline_cfg = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    pipeline = Compose(pipeline_cfg)
    canvas = next((min(t['size']) for t in pipeline_cfg if t['type'] == 'ResizeCanvas'), None)
    original_pixels = any(t['type'] == 'CrossContextCrops' for t in pipeline_cfg)
    rng = np.random.default_rng(0)
    h, w = args.size
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(args.num_images):
            small = rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)
            img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
            img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
            path = osp.join(folder, f'sa_{i}.jpg')
            cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            paths.append(path)

        def full(path):
            return read_rgb(path)

        def reduced(path):
            bgr = cv2.imread(path, cv2.IMREAD_REDUCED_COLOR_2)
            return np.ascontiguousarray(bgr[..., ::-1])

        for name, decode in (('full', full), ('reduced_2', reduced)):
            start = time.perf_counter()
            decode_s = 0.0
            for _ in range(args.repeats):
                for i, path in enumerate(paths):
                    t0 = time.perf_counter()
                    img = decode(path)
                    decode_s += time.perf_counter() - t0
                    pipeline(dict(img=img, img_path=path, ori_shape=img.shape[:2], sample_idx=i))
            n = args.repeats * len(paths)
            total = time.perf_counter() - start
            results[name] = dict(
                images_per_s=round(n / total, 2),
                decode_ms=round(1000 * decode_s / n, 1),
                pipeline_ms=round(1000 * (total - decode_s) / n, 1),
            )
    short = min(h, w)
    results['reduced_2_allowed'] = not original_pixels and (canvas is None or short // 2 >= canvas)
    results['canvas'] = canvas
    results['original_pixel_views'] = original_pixels
    print(f'{args.config}: {h}x{w} JPEGs, one worker, one thread')
    for name in ('full', 'reduced_2'):
        print(f'  {name:10s} {results[name]}')
    why = 'views in original pixels' if original_pixels else f'canvas {canvas} px'
    print(f'  reduced decoding allowed ({why}, short side {short}): {results["reduced_2_allowed"]}')
    return results


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    main()
