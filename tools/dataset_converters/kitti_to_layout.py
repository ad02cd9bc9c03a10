"""KITTI raw + annotated depth -> the Eigen test layout and list of the community protocol.

    python tools/dataset_converters/kitti_to_layout.py --raw-root RAW --depth-root ANNOTATED
        --split eigen_test_files.txt --out data/kitti [--copy]

Inputs:

* ``RAW``: KITTI raw (https://www.cvlibs.net/datasets/kitti/raw_data.php), synced +
  rectified: ``<date>/<date>_drive_<id>_sync/image_02/data/<frame>.png`` and
  ``<date>/calib_cam_to_cam.txt`` (for the focal length column, optional).
* ``ANNOTATED``: the depth benchmark's annotated ground truth
  (``data_depth_annotated.zip``): ``{train,val}/<drive>/proj_depth/groundtruth/
  image_0{2,3}/<frame>.png``, uint16 = metres x 256, 0 = missing.
* ``--split``: the Eigen test list, 697 frames, in either common form: a line whose
  first token is ``<date>/<drive>/image_02/data/<frame>.png`` (Marigold/BTS lists) or
  ``<date>/<drive> <frame number> l|r`` (monodepth2 ``test_files.txt``).

Output under ``--out`` (Marigold's ``kitti_eigen_split_test`` layout):
``<date>/<drive>/image_02/data/<frame>.png`` (symlinks, or copies with ``--copy``),
``<drive>/proj_depth/groundtruth/image_02/<frame>.png``, and
``eigen_test_files_with_gt.txt`` with lines ``rgb depth focal``, ``depth`` being
``None`` for the 45 Eigen frames without annotated GT (the reader leaves them out,
so 652 are evaluated).
"""

import argparse
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional, Tuple

from mmdistilldepth.utils import UserInputError, one_line_errors

LIST_NAME = 'eigen_test_files_with_gt.txt'


def parse_split_line(line: str) -> Optional[Tuple[str, str, str, str]]:
    """A split line -> (date, drive, camera folder, frame file name), or None if blank."""
    tokens = line.split()
    if not tokens or tokens[0].startswith('#'):
        return None
    parts = tokens[0].split('/')
    if len(parts) == 5 and parts[3] == 'data':  # date/drive/image_0X/data/frame.png
        return parts[0], parts[1], parts[2], parts[4]
    if len(parts) == 2 and len(tokens) >= 3:  # date/drive frame l|r
        camera = dict(l='image_02', r='image_03').get(tokens[2])
        if camera is None:
            raise ValueError(f'side {tokens[2]!r} is not l or r')
        return parts[0], parts[1], camera, f'{int(tokens[1]):010d}.png'
    raise ValueError(
        'expected "<date>/<drive>/image_02/data/<frame>.png ..." or "<date>/<drive> <frame> l|r"'
    )


def read_focal(
    raw_root: str, date: str, camera: str, cache: Dict[Tuple[str, str], Optional[str]]
) -> Optional[str]:
    """Fx of the rectified camera (P_rect_02 / P_rect_03) from calib_cam_to_cam.txt."""
    key = (date, camera)
    if key not in cache:
        cache[key] = None
        path = osp.join(raw_root, date, 'calib_cam_to_cam.txt')
        if osp.isfile(path):
            wanted = f'P_rect_{camera[-2:]}:'
            with open(path) as f:
                for line in f:
                    if line.startswith(wanted):
                        cache[key] = line.split()[1]
    return cache[key]


def find_ground_truth(depth_root: str, drive: str, camera: str, frame: str) -> Optional[str]:
    for subset in ('val', 'train'):
        path = osp.join(depth_root, subset, drive, 'proj_depth', 'groundtruth', camera, frame)
        if osp.isfile(path):
            return path
    return None


def _place(src: str, dst: str, copy: bool) -> None:
    os.makedirs(osp.dirname(dst), exist_ok=True)
    if osp.lexists(dst):
        os.remove(dst)
    if copy:
        shutil.copyfile(src, dst)
    else:
        os.symlink(osp.abspath(src), dst)


def convert(
    raw_root: str, depth_root: str, split: str, out_dir: str, copy: bool = False
) -> Tuple[str, int, int]:
    """Write the layout and the list; returns (list path, frames with GT, without)."""
    lines: List[str] = []
    with_gt = without_gt = 0
    focal_cache: Dict[Tuple[str, str], Optional[str]] = {}
    with open(split) as f:
        for number, line in enumerate(f, 1):
            try:
                parsed = parse_split_line(line)
            except ValueError as err:
                raise UserInputError(f'{split}:{number}: {err}') from None
            if parsed is None:
                continue
            date, drive, camera, frame = parsed
            rgb_rel = osp.join(date, drive, camera, 'data', frame)
            rgb_src = osp.join(raw_root, rgb_rel)
            if not osp.isfile(rgb_src):
                raise UserInputError(
                    f'{split}:{number}: image {rgb_src} does not exist; '
                    '--raw-root must hold the synced+rectified drives of '
                    'the split'
                )
            _place(rgb_src, osp.join(out_dir, rgb_rel), copy)
            gt_src = find_ground_truth(depth_root, drive, camera, frame)
            if gt_src is None:
                depth_rel = 'None'
                without_gt += 1
            else:
                depth_rel = osp.join(drive, 'proj_depth', 'groundtruth', camera, frame)
                _place(gt_src, osp.join(out_dir, depth_rel), copy)
                with_gt += 1
            focal = read_focal(raw_root, date, camera, focal_cache)
            lines.append(' '.join([rgb_rel, depth_rel] + ([focal] if focal else [])))
    if not lines:
        raise UserInputError(f'{split} lists no frame')
    list_path = osp.join(out_dir, LIST_NAME)
    with open(list_path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return list_path, with_gt, without_gt


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='KITTI raw + annotated depth -> Eigen test')
    parser.add_argument('--raw-root', required=True, help='KITTI raw data root')
    parser.add_argument(
        '--depth-root', required=True, help='annotated depth root (holding train/ and val/)'
    )
    parser.add_argument('--split', required=True, help='the Eigen test file list')
    parser.add_argument('--out', required=True, help='the data root to write (data/kitti)')
    parser.add_argument('--copy', action='store_true', help='copy files instead of symlinks')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('kitti_to_layout.py'):
        for path, what in ((args.raw_root, '--raw-root'), (args.depth_root, '--depth-root')):
            if not osp.isdir(path):
                raise UserInputError(f'{what} {path} is not a folder')
        if not osp.isfile(args.split):
            raise UserInputError(
                f'--split {args.split} does not exist; give the Eigen test '
                'list (e.g. eigen_test_files_with_gt.txt of Marigold/BTS)'
            )
        list_path, with_gt, without_gt = convert(
            args.raw_root, args.depth_root, args.split, args.out, args.copy
        )
        print(
            f'wrote {list_path}: {with_gt} frames with annotated depth, {without_gt} '
            'without (listed as None)'
        )


if __name__ == '__main__':
    main()
