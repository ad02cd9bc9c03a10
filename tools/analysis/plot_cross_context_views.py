"""Draw the cross-context views of one image in its own pixels (docs/method.md).

Writes ``docs/_static/cross_context_views.png``: a rendered 1500x2250 scene and its
portrait, with the shared crop and the local patches that the mission config's
``CrossContextCrops`` draws, and the student's global view size::

    python tools/analysis/plot_cross_context_views.py [--out PATH] [--config CFG]
"""

from __future__ import annotations

import argparse
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.patches as patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import Config  # noqa: E402

from mmdistilldepth.datasets.synthetic_scenes import render_scene  # noqa: E402
from mmdistilldepth.registry import TRANSFORMS  # noqa: E402
from mmdistilldepth.utils import register_all_modules  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--config', default=osp.join(REPO_ROOT, 'configs', 'cross_context_dav2_l.py')
    )
    parser.add_argument(
        '--out', default=osp.join(REPO_ROOT, 'docs', '_static', 'cross_context_views.png')
    )
    args = parser.parse_args(argv)
    register_all_modules()
    crops = TRANSFORMS.build(Config.fromfile(args.config).train_dataloader.dataset.pipeline[0])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), gridspec_kw=dict(width_ratios=[1.5, 0.67]))
    for ax, (h, w), index in zip(axes, ((1500, 2250), (2250, 1500)), (3, 5)):
        # rendered small and enlarged: only the geometry of the boxes matters here
        img = render_scene(7, index, h // 5, w // 5)['img']
        img = np.kron(img, np.ones((5, 5, 1), dtype=img.dtype))
        r = crops(dict(img=img, sample_idx=index))
        scale = np.array(r['scale_factor'] * 2)
        ax.imshow(img)
        shared = r['shared_box'] / scale
        ax.add_patch(
            patches.Rectangle(
                shared[:2], *(shared[2:] - shared[:2]), fill=False, lw=2.5, ec='yellow'
            )
        )
        ax.text(
            shared[0] + 20, shared[1] + 70, f'V_s {shared[2] - shared[0]:.0f} px', color='yellow'
        )
        for n, box in enumerate(r['local_boxes'] / scale):
            ax.add_patch(
                patches.Rectangle(
                    box[:2], *(box[2:] - box[:2]), fill=False, lw=1.5, ec='cyan', ls='--'
                )
            )
            ax.text(box[0] + 15, box[3] - 25, f'V_l,{n + 1}', color='cyan', fontsize=8)
        gh, gw = r['img_shape']
        ax.set_title(
            f'{h}x{w}: student V_g = whole image at {gh}x{gw}\n'
            f'V_s: 644..{min(h, w)} px -> 560; V_l: 560 px at 1:1 (teacher)',
            fontsize=9,
        )
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
