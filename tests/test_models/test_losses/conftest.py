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


def random_maps(shape=(3, 1, 13, 17), seed=0, dtype=torch.float64, invalid=0.25,
                full_image: Optional[int] = 1):
    """Positive (pred, target, mask) maps; ``full_image`` is an image left all valid."""
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g, dtype=dtype) * 5 + 0.5
    pred = target * 0.7 + torch.rand(shape, generator=g, dtype=dtype)
    mask = torch.rand(shape, generator=g) > invalid
    if full_image is not None:
        mask[full_image] = True
    return pred, target, mask


def require_native():
    """Skip, with the reason, where no C compiler can build the compiled loss path (CI
    has one); where a compiler exists but the build fails, fail and show why."""
    import os
    import shutil

    from mmdistilldepth.models.losses import native
    if not native.available(torch.float64):
        if shutil.which(os.environ.get('CC', 'cc')) is None:
            pytest.skip('no C compiler: the compiled loss path cannot be built')
        native.library(torch.float64)


@pytest.fixture(params=['torch', 'native'])
def loss_backend(request, monkeypatch):
    """Run a test on both paths of NormalizedL1Loss: torch and the compiled kernels."""
    from mmdistilldepth.models.losses import native
    if request.param == 'torch':
        monkeypatch.setattr(native, 'normalized_l1', lambda *args, **kwargs: None)
    else:
        require_native()
    return request.param
