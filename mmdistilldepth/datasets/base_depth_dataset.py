"""Common base of the zero-shot benchmark readers: a data root, a split list, checks."""

from __future__ import annotations

import glob
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

PREPARE_HINT = 'see docs/datasets.md for where to get it and how to lay it out'


def relative_glob(root: str, pattern: str) -> List[str]:
    """The files matching ``pattern`` under ``root``, sorted, as paths relative to it."""
    return sorted(osp.relpath(p, root) for p in glob.glob(osp.join(root, pattern)))


class BaseDepthBenchmark(BaseDataset):
    """A benchmark on disk: image, depth (and mask) files relative to ``data_root``.

    The sample list comes from a split list file (``ann_file``: one sample per line,
    whitespace-separated paths relative to ``data_root``, as Marigold's
    ``data_split/*/*.txt``) or, without one, from scanning the benchmark's layout.
    Every listed file must exist; a missing one stops the build with its name, so a
    benchmark number is never computed on a silently smaller set.

    A sample before the pipeline is ``dict(img_path, depth_path[, mask_path],
    benchmark, sample_idx)``; ``LoadRGBImage`` and ``LoadDepthAnnotation`` decode it.

    Subclasses set ``METAINFO = dict(benchmark=...)``, ``LAYOUT`` and ``LINE_FORMAT``
    (one-line descriptions for error messages), optionally ``CONVERTER`` (the command
    that builds the layout) and implement :meth:`parse_line` and
    :meth:`scan_layout`.

    Args:
        data_root (str): the benchmark's root folder.
        ann_file (str): split list, relative to ``data_root`` unless absolute; ''
            scans the layout.
        pipeline (list): transforms.
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO: dict = dict(benchmark=None)
    LAYOUT: str = ''
    LINE_FORMAT: str = "'<rgb> <depth>'"
    CONVERTER: Optional[str] = None

    def __init__(
        self, data_root: str, ann_file: str = '', pipeline: Sequence = (), **kwargs
    ) -> None:
        kwargs.setdefault('test_mode', True)
        super().__init__(ann_file=ann_file, data_root=data_root, pipeline=list(pipeline), **kwargs)

    # -- to implement ----------------------------------------------------------------
    def parse_line(self, tokens: List[str]) -> Optional[dict]:
        """One split-list line (already split) -> relative paths, or None to skip it."""
        raise NotImplementedError

    def scan_layout(self) -> List[dict]:
        """All samples found in the layout, as dicts of relative paths (sorted)."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.__class__.__name__

    def _fix(self) -> str:
        converter = f'create it with {self.CONVERTER}, or ' if self.CONVERTER else ''
        return (
            f'{converter}pass the right folder (--data-root, or '
            f'test_dataloader.dataset.data_root); {PREPARE_HINT}'
        )

    def load_data_list(self) -> List[dict]:
        if not osp.isdir(self.data_root):
            raise FileNotFoundError(
                f'{self.name}: data_root {self.data_root!r} does not exist; expected the '
                f'layout {self.LAYOUT}; {self._fix()}'
            )
        if self.ann_file:
            entries = self._read_split_list(self.ann_file)
        else:
            entries = self.scan_layout()
            if not entries:
                raise FileNotFoundError(
                    f'{self.name}: no samples found under {self.data_root!r}; expected the '
                    f'layout {self.LAYOUT}; {self._fix()}'
                )
        data_list = []
        missing = []
        for entry in entries:
            info = {key: osp.join(self.data_root, rel) for key, rel in entry.items()}
            missing += [p for p in info.values() if not osp.isfile(p)]
            info['benchmark'] = self.metainfo['benchmark']
            data_list.append(info)
        if missing:
            raise FileNotFoundError(
                f'{self.name}: {len(missing)} file(s) of the split are missing, first: '
                f'{missing[0]!r}; the data under {self.data_root!r} is incomplete or the '
                f'split list does not match it; {self._fix()}'
            )
        return data_list

    def _read_split_list(self, path: str) -> List[dict]:
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{self.name}: split list {path!r} does not exist; give the list file '
                f"(lines of '<rgb> <depth> ...' relative to data_root), or ann_file='' to "
                f'scan the layout {self.LAYOUT}'
            )
        entries, skipped = [], 0
        with open(path, encoding='utf-8') as f:
            for number, line in enumerate(f, 1):
                tokens = line.split()
                if not tokens or tokens[0].startswith('#'):
                    continue
                try:
                    entry = self.parse_line(tokens)
                except (IndexError, ValueError):
                    raise ValueError(
                        f'{self.name}: {path}:{number}: cannot parse {line!r}; '
                        f'expected {self.LINE_FORMAT}'
                    ) from None
                if entry is None:
                    skipped += 1
                else:
                    entries.append(entry)
        if skipped:
            print_log(
                f'{self.name}: {skipped} line(s) of {path} have no ground truth '
                "('None') and are left out",
                logger='current',
            )
        if not entries:
            raise ValueError(
                f'{self.name}: split list {path} lists no sample; expected '
                f'lines of {self.LINE_FORMAT}'
            )
        return entries
