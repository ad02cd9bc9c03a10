"""Shared helpers of the loss tests."""

from typing import Optional

import pytest
import torch


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """These maps are tiny: thread start-up would cost more than the work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_maps(
    shape=(3, 1, 13, 17), seed=0, dtype=torch.float64, invalid=0.25, full_image: Optional[int] = 1
):
    """Positive (pred, target, mask) maps; ``full_image`` is an image left all valid."""
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g, dtype=dtype) * 5 + 0.5
    pred = target * 0.7 + torch.rand(shape, generator=g, dtype=dtype)
    mask = torch.rand(shape, generator=g) > invalid
    if full_image is not None:
        mask[full_image] = True
    return pred, target, mask
