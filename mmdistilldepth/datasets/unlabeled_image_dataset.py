"""Unlabeled images for distillation (SA-1B style): a folder, a glob or a list file."""

from __future__ import annotations

import glob
import logging
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmdistilldepth.registry import DATASETS
from mmdistilldepth.utils.image_io import UnreadableFileError, read_rgb

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def list_images(source: str) -> List[str]:
    """Resolve a folder (searched recursively), a glob pattern or a list file to paths.

    A list file is a text file with one image path per line (relative paths are
    taken relative to the list file's folder; blank lines and ``#`` comments are
    skipped).

    Raises:
        FileNotFoundError: nothing matches ``source``.
    """
    if osp.isdir(source):
        paths = [
            osp.join(root, f)
            for root, _, files in os.walk(source)
            for f in files
            if f.lower().endswith(IMAGE_EXTENSIONS)
        ]
    elif osp.isfile(source) and source.lower().endswith(('.txt', '.lst', '.list')):
        base = osp.dirname(osp.abspath(source))
        with open(source, encoding='utf-8') as f:
            lines = [ln.strip() for ln in f]
        paths = [
            ln if osp.isabs(ln) else osp.join(base, ln)
            for ln in lines
            if ln and not ln.startswith('#')
        ]
    elif osp.isfile(source):
        paths = [source]
    else:
        paths = glob.glob(source, recursive=True)
    paths = sorted(paths)
    if not paths:
        raise FileNotFoundError(
            f'no images found at {source!r}: give a folder of images, a glob such as '
            "'data/sa1b/**/*.jpg', or a text file listing one image per line"
        )
    return paths


@DATASETS.register_module()
class UnlabeledImageDataset(BaseDataset):
    """Images without labels; the teacher makes the labels.

    A sample before the pipeline is ``dict(img_path, img, ori_shape, sample_idx)``,
    the image decoded by :func:`~mmdistilldepth.utils.image_io.read_rgb` (RGB of any
    mode, EXIF orientation applied).

    A file that cannot be read (missing, empty, truncated, not an image) is skipped:
    it is named once in the log with the reason and the number of files skipped so
    far, remembered (it is not read again), and another sample is drawn in its
    place, so one bad file never stops a run. The replacement is a function of the
    index and the attempt only, so the data order stays reproducible (and a resumed
    run sees what an uninterrupted one would). Each data-loading process (worker)
    keeps its own count in ``num_skipped`` and its own log lines.

    ``num_samples=N`` keeps a subset of N images (the paper's 50k ablation set, the
    10k..200k of its appendix C.2): the first N of a permutation of the sorted list
    drawn from ``subset_seed``, so a smaller subset lies inside every larger one of the
    same seed. ``sample_idx`` stays the image's index in the whole list.

    Args:
        data_root (str): a folder, a glob pattern or a list file.
        pipeline (list): the transforms.
        max_refetch (int): unreadable files in a row before giving up with an error
            (then ``data_root`` is most likely wrong).
        num_samples (int, optional): keep only this many images (all if None or more).
        subset_seed (int): the seed of the subset's permutation.
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(benchmark='unlabeled')

    def __init__(
        self,
        data_root: str,
        pipeline=(),
        max_refetch: int = 1000,
        num_samples: Optional[int] = None,
        subset_seed: int = 0,
        **kwargs,
    ) -> None:
        self.source = data_root
        self._unreadable: Dict[int, str] = {}
        if num_samples is not None and num_samples < 1:
            raise ValueError(f'UnlabeledImageDataset: num_samples must be >= 1, got {num_samples}')
        self.num_samples = num_samples
        self.subset_seed = subset_seed
        self._subset: Optional[np.ndarray] = None
        super().__init__(data_root='', pipeline=list(pipeline), max_refetch=max_refetch, **kwargs)

    @property
    def num_skipped(self) -> int:
        """The number of unreadable files found so far by this process."""
        return len(self._unreadable)

    def load_data_list(self) -> List[dict]:
        return [dict(img_path=p) for p in list_images(self.source)]

    def full_init(self) -> None:
        """Load the paths; a list file is read into one bytes buffer with offsets.

        A list file of a million paths then costs one numpy buffer (its size in
        bytes) and one int64 array, not a million Python objects per worker, and
        starts in about a second; folders and globs use ``BaseDataset``'s path.
        """
        if self._fully_initialized:
            return
        source = self.source
        if not (osp.isfile(source) and source.lower().endswith(('.txt', '.lst', '.list'))):
            super().full_init()
            self._choose_subset()
            return
        with open(source, 'rb') as f:
            lines = [ln.strip() for ln in f]
        lines = sorted(ln for ln in lines if ln and not ln.startswith(b'#'))
        if not lines:
            raise FileNotFoundError(
                f'no images found at {source!r}: the list file lists no image path (one per line)'
            )
        lengths = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
        self.path_offsets = np.concatenate([[0], np.cumsum(lengths)])
        self.path_bytes = np.frombuffer(b''.join(lines), dtype=np.uint8)
        self._list_base = osp.dirname(osp.abspath(source))
        del lines
        self._fully_initialized = True
        self._choose_subset()

    def _full_length(self) -> int:
        if getattr(self, 'path_offsets', None) is not None:
            return len(self.path_offsets) - 1
        return super().__len__()

    def _choose_subset(self) -> None:
        """The ``num_samples`` subset: the first N of a seeded permutation, sorted."""
        total = self._full_length()
        if self.num_samples is None or self.num_samples >= total:
            self._subset = None
            return
        order = np.random.default_rng(self.subset_seed).permutation(total)
        self._subset = np.sort(order[: self.num_samples])

    def _list_path(self, idx: int) -> str:
        start, end = self.path_offsets[idx], self.path_offsets[idx + 1]
        path = self.path_bytes[start:end].tobytes().decode('utf-8')
        return path if osp.isabs(path) else osp.join(self._list_base, path)

    def __len__(self) -> int:
        if getattr(self, '_subset', None) is not None:
            return len(self._subset)
        return self._full_length()

    def get_data_info(self, idx: int) -> dict:
        idx = int(idx) % len(self) if idx < 0 else int(idx)
        if idx >= len(self):
            raise IndexError(f'UnlabeledImageDataset: index {idx} out of range ({len(self)})')
        if self._subset is not None:
            idx = int(self._subset[idx])  # the index in the whole list
        if getattr(self, 'path_offsets', None) is None:
            return super().get_data_info(idx)
        return dict(img_path=self._list_path(idx), sample_idx=idx)

    def prepare_data(self, idx: int) -> Optional[dict]:
        """The transformed sample ``idx``, or None when its file is unreadable."""
        if idx in self._unreadable:
            return None
        info = self.get_data_info(idx)
        try:
            if 'img' not in info:
                info['img'] = read_rgb(info['img_path'])
                info['ori_shape'] = info['img'].shape[:2]
            return self.pipeline(info)
        except UnreadableFileError as exc:
            self._skip(idx, exc)
            return None

    def _skip(self, idx: int, exc: UnreadableFileError, what: str = 'unreadable image') -> None:
        """Count sample ``idx`` as skipped and log its file and reason, once per sample."""
        if idx in self._unreadable:
            return
        self._unreadable[idx] = exc.reason
        print_log(
            f'{type(self).__name__}: skipping {what} {exc.path}: '
            f'{exc.reason} ({self.num_skipped} skipped so far by this process)',
            logger='current',
            level=logging.WARNING,
        )

    def replacement_index(self, idx: int, attempt: int) -> int:
        """The sample drawn instead of an unreadable ``idx`` (deterministic)."""
        return int(np.random.default_rng([idx, attempt]).integers(len(self)))

    def __getitem__(self, idx: int) -> dict:
        if not self._fully_initialized:
            self.full_init()
        first = idx
        for attempt in range(self.max_refetch + 1):
            data = self.prepare_data(idx)
            if data is not None:
                return data
            idx = self.replacement_index(idx, attempt)
        raise RuntimeError(
            f'UnlabeledImageDataset: {self.max_refetch + 1} unreadable files in a row '
            f'(starting at {self.get_data_info(first)["img_path"]}: '
            f'{self._unreadable.get(first)}); check data_root {self.source!r}'
        )
