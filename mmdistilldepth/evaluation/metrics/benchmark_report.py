"""The zero-shot report: Table 5 of the paper (AbsRel and delta1 per benchmark)."""

from __future__ import annotations

from typing import Dict

#: Table 5 of the paper, in its order: benchmark -> column title.
TABLE_COLUMNS = dict(nyu='NYUv2', kitti='KITTI', diode='DIODE', scannet='ScanNet', eth3d='ETH3D')


def markdown_table(model_name: str, results: Dict[str, Dict[str, float]]) -> str:
    """Table 5 layout: AbsRel and delta1 per benchmark, in the paper's column order.

    Args:
        model_name (str): the row title (e.g. the config's name).
        results (dict): ``{benchmark: {metric: value}}``; benchmarks outside the
            paper's table follow its columns, metrics missing print ``nan``.

    Returns:
        str: a three-line Markdown table (header, rule, one row).
    """
    names = [n for n in TABLE_COLUMNS if n in results] + [
        n for n in results if n not in TABLE_COLUMNS
    ]
    head = (
        '| Method | '
        + ' | '.join(
            f'{TABLE_COLUMNS.get(n, n)} AbsRel↓ | {TABLE_COLUMNS.get(n, n)} δ1↑' for n in names
        )
        + ' |'
    )
    rule = '|---|' + '---:|' * (2 * len(names))
    cells = ' | '.join(
        f'{results[n].get("abs_rel", float("nan")):.3f} | '
        f'{results[n].get("delta1", float("nan")):.3f}'
        for n in names
    )
    return '\n'.join([head, rule, f'| {model_name} | {cells} |'])
