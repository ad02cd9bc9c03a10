"""Depth Anything V2's positional-embedding interpolation, eager and traceable.

:func:`interpolate_pos_embed_dav2` is the reference: the exact ``F.interpolate`` call
of the official DINOv2 code. :func:`interpolate_pos_embed_traceable` computes the
same bicubic resize as two small weight matrices built with tensor ops, so that an
ONNX export keeps the input height and width dynamic (``F.interpolate`` with a
shape-dependent ``scale_factor`` cannot be traced), including the official
"unchanged for a square 37x37 grid" rule. Both are exact in float64; in float32
they differ by the rounding of the cubic weights (~1e-5 on unit-variance embeddings).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CUBIC_A = -0.75  # PyTorch's (and OpenCV's) bicubic coefficient


def interpolate_pos_embed_dav2(
    pos_embed: torch.Tensor, height: int, width: int, patch_size: int = 14, offset: float = 0.1
) -> torch.Tensor:
    """Resize a (1, 1 + M*M, C) positional embedding the way Depth Anything V2 does.

    The class-token entry is kept; the M x M patch grid is resized in float32 with
    ``F.interpolate(scale_factor=((H//p + offset)/M, (W//p + offset)/M),
    mode='bicubic', antialias=False, align_corners=False)``. The embedding is
    returned unchanged only when the image has M*M patches *and* H == W.

    Args:
        pos_embed (Tensor): (1, 1 + M*M, C), class token first.
        height (int): image height in pixels.
        width (int): image width in pixels.
        patch_size (int): the patch size p.
        offset (float): added to the patch counts before dividing (0.1 in DINOv2).

    Returns:
        Tensor: (1, 1 + (H//p)*(W//p), C) in the dtype of ``pos_embed``.
    """
    num_grid = pos_embed.shape[1] - 1
    grid_h, grid_w = height // patch_size, width // patch_size
    if grid_h * grid_w == num_grid and height == width:
        return pos_embed
    dtype = pos_embed.dtype
    pos_embed = pos_embed.float()
    cls_pos, patch_pos = pos_embed[:, :1], pos_embed[:, 1:]
    side = math.sqrt(num_grid)
    patch_pos = patch_pos.reshape(1, int(side), int(side), -1).permute(0, 3, 1, 2)
    patch_pos = F.interpolate(
        patch_pos,
        scale_factor=((grid_h + offset) / side, (grid_w + offset) / side),
        mode='bicubic',
        antialias=False,
    )
    if patch_pos.shape[-2:] != (grid_h, grid_w):
        raise RuntimeError(
            f'positional embedding resized to {tuple(patch_pos.shape[-2:])}, '
            f'expected {(grid_h, grid_w)}'
        )
    patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1)
    return torch.cat((cls_pos, patch_pos), dim=1).to(dtype)


def _cubic_inner(x: torch.Tensor) -> torch.Tensor:  # |x| <= 1
    return ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1


def _cubic_outer(x: torch.Tensor) -> torch.Tensor:  # 1 < |x| < 2
    return ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A


def bicubic_matrix(in_size: int, out_size, inv_scale) -> torch.Tensor:
    """The (out_size, in_size) matrix of ``F.interpolate(mode='bicubic')`` along one axis.

    Follows PyTorch's kernel: source coordinate ``(i + 0.5) * inv_scale - 0.5``
    (``align_corners=False``, ``inv_scale = 1 / scale_factor``), Keys cubic with
    a = -0.75, neighbour indices clamped to the border. ``out_size`` and
    ``inv_scale`` may be traced tensors.
    """
    dst = torch.arange(out_size, dtype=torch.float32)
    src = (dst + 0.5) * inv_scale - 0.5
    base = torch.floor(src)
    t = src - base
    weights = torch.stack(
        [_cubic_outer(t + 1), _cubic_inner(t), _cubic_inner(1 - t), _cubic_outer(2 - t)], dim=1
    )  # (out, 4)
    index = (base.unsqueeze(1) + torch.arange(-1, 3, dtype=torch.float32)).clamp(0, in_size - 1)
    columns = torch.arange(in_size, dtype=torch.float32)
    onehot = (index.unsqueeze(-1) == columns).to(torch.float32)  # (out, 4, in)
    return (weights.unsqueeze(-1) * onehot).sum(1)


def interpolate_pos_embed_traceable(
    pos_embed: torch.Tensor, height, width, patch_size: int = 14, offset: float = 0.1
) -> torch.Tensor:
    """:func:`interpolate_pos_embed_dav2` with tensor ops only (for ONNX export).

    ``height`` and ``width`` may be traced sizes. The "unchanged" case (a square
    image with the pretraining grid) is selected arithmetically, not by control flow.
    """
    num_grid = pos_embed.shape[1] - 1
    side = int(math.sqrt(num_grid))
    height = torch.as_tensor(height)
    width = torch.as_tensor(width)
    grid_h, grid_w = height // patch_size, width // patch_size
    dim = pos_embed.shape[-1]
    grid = pos_embed[0, 1:].float().reshape(side, side, dim)
    unchanged = ((grid_h * grid_w == num_grid) & (height == width)).to(torch.float32)
    matrices = []
    for size in (grid_h, grid_w):
        resize = bicubic_matrix(side, size, side / (size.to(torch.float32) + offset))
        identity = (torch.arange(size).unsqueeze(1) == torch.arange(side)).to(torch.float32)
        matrices.append(resize * (1 - unchanged) + identity * unchanged)
    patch_pos = torch.einsum('hi,ijc,wj->hwc', matrices[0], grid, matrices[1])
    patch_pos = patch_pos.reshape(1, -1, dim)
    return torch.cat((pos_embed[:, :1].float(), patch_pos), dim=1).to(pos_embed.dtype)
