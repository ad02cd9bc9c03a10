"""Freezing a module: the one way teachers and frozen encoders are made non-trainable."""

from torch import nn


def freeze(module: nn.Module) -> nn.Module:
    """Make every parameter of ``module`` non-trainable and switch it to eval mode.

    Args:
        module (nn.Module): the module to freeze, changed in place.

    Returns:
        nn.Module: ``module`` itself, so that ``self.teacher = freeze(build(...))`` reads.
    """
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()
