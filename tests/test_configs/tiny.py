"""What the config tests share: a config's training pipeline at a tiny size."""

from typing import List, Sequence


def tiny_pipeline(
    pipeline: Sequence[dict], train_size: int, tiny_size: int, multiple: int = 14
) -> List[dict]:
    """The config's ``CrossContextCrops`` and ``PackDepthInputs``, every size scaled.

    The crop sizes (original pixels) and the global view are scaled by
    ``tiny_size / train_size``, as ``model.train_size`` is; the global view's sides
    become multiples of the tiny student's patch size ``multiple``.
    """
    factor = tiny_size / train_size
    out = []
    for t in pipeline:
        t = dict(t)
        if t['type'] == 'CrossContextCrops':
            size = t.get('global_size')
            if isinstance(size, (int, float)):
                t['global_size'] = round(size * factor)
            elif size is not None:
                t['global_size'] = tuple(round(s * factor / multiple) * multiple for s in size)
            lo, hi = t.get('shared_side', (644, None))
            t['shared_side'] = (round(lo * factor), None if hi is None else round(hi * factor))
            t['local_size'] = round(t.get('local_size', 560) * factor)
            t['size_multiple'] = multiple
        if t['type'] in ('CrossContextCrops', 'PackDepthInputs'):
            out.append(t)
    return out
