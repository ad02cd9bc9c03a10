"""MiDaS v3.1's BEiT backbone (``beitl16_512``) on a timm BEiT, any input size.

The timm model (``timm.create_model('beit_large_patch16_512', pretrained=False)``)
holds the parameters under ``model.*`` exactly as MiDaS names them
(``pretrained.model.*`` in the official checkpoint); this module replaces timm's
forward, as MiDaS does, so that:

* any H, W that are multiples of 16 are accepted (no size assert, no pos_embed);
* every block's relative-position table is resized from its 32x32 training window
  to the input's (H/16, W/16) window (:func:`resize_rel_pos_table`) and indexed with
  :func:`beit_relative_position_index`;
* the outputs of four hooked blocks are read out ('project': ``[token, cls]`` ->
  Linear + GELU) and reassembled into maps at H/4, H/8, H/16 and H/32
  (``act_postprocess{1..4}``, the official key names).

Plain torch + timm; no framework imports.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

#: MiDaS's BEiT variants: timm name, hooked blocks, reassembly widths.
MIDAS_BEIT_ARCHS: Dict[str, dict] = {
    'beitl16_512': dict(
        timm_name='beit_large_patch16_512',
        hooks=(5, 11, 17, 23),
        out_channels=(256, 512, 1024, 1024),
    ),
    'beitl16_384': dict(
        timm_name='beit_large_patch16_384',
        hooks=(5, 11, 17, 23),
        out_channels=(256, 512, 1024, 1024),
    ),
    'beitb16_384': dict(
        timm_name='beit_base_patch16_384', hooks=(2, 5, 8, 11), out_channels=(96, 192, 384, 768)
    ),
}


def beit_relative_position_index(
    window: Tuple[int, int], device: Optional[torch.device] = None
) -> torch.Tensor:
    """The BEiT relative-position index of a (h, w) token window plus a cls token.

    Entry (i, j) for query patch (yi, xi) and key patch (yj, xj) is
    ``(yi - yj + h - 1) * (2w - 1) + (xi - xj + w - 1)``; the cls row uses
    ``n - 3``, the cls column ``n - 2`` and (cls, cls) ``n - 1``, where
    ``n = (2h - 1)(2w - 1) + 3``.

    Args:
        window (tuple): (h, w) patches.
        device (torch.device, optional): where the index is built.

    Returns:
        Tensor: int64 (h*w + 1, h*w + 1).
    """
    h, w = int(window[0]), int(window[1])
    ys, xs = torch.meshgrid(
        torch.arange(h, device=device), torch.arange(w, device=device), indexing='ij'
    )
    ys, xs = ys.flatten(), xs.flatten()
    rel = (ys[:, None] - ys[None, :] + h - 1) * (2 * w - 1) + (xs[:, None] - xs[None, :] + w - 1)
    n = (2 * h - 1) * (2 * w - 1) + 3
    index = torch.empty(h * w + 1, h * w + 1, dtype=torch.long, device=device)
    index[1:, 1:] = rel
    index[0, :] = n - 3
    index[:, 0] = n - 2
    index[0, 0] = n - 1
    return index


def resize_rel_pos_table(
    table: torch.Tensor, src_window: Tuple[int, int], dst_window: Tuple[int, int]
) -> torch.Tensor:
    """Resize a BEiT relative-position bias table to another window, as MiDaS does.

    The first ``(2sh-1)(2sw-1)`` rows form a (2sh-1, 2sw-1) grid of offsets
    (vertical first); it is resized bilinearly (``align_corners=False``, no
    antialias) to (2h-1, 2w-1) -- also when the size does not change, where this is
    an exact identity -- and the 3 cls rows are appended unchanged.

    Args:
        table (Tensor): ((2sh-1)(2sw-1) + 3, heads).
        src_window (tuple): the table's (sh, sw) window.
        dst_window (tuple): the target (h, w) window.

    Returns:
        Tensor: ((2h-1)(2w-1) + 3, heads).
    """
    src_h, src_w = 2 * src_window[0] - 1, 2 * src_window[1] - 1
    dst_h, dst_w = 2 * dst_window[0] - 1, 2 * dst_window[1] - 1
    heads = table.shape[-1]
    grid = table[: src_h * src_w].reshape(1, src_h, src_w, heads).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(dst_h, dst_w), mode='bilinear', align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(dst_h * dst_w, heads)
    return torch.cat([grid, table[src_h * src_w :]], dim=0)


class ProjectReadout(nn.Module):
    """MiDaS's 'project' readout: ``GELU(Linear([patch tokens, cls]))``.

    Args:
        dim (int): token width C (the Linear maps 2C -> C).
        start_index (int): the number of prefix tokens (1: the cls token).
    """

    def __init__(self, dim: int, start_index: int = 1) -> None:
        super().__init__()
        self.start_index = start_index
        self.project = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1 + N, C) -> (B, N, C)."""
        tokens = x[:, self.start_index :]
        readout = x[:, :1].expand_as(tokens)
        return self.project(torch.cat((tokens, readout), dim=-1))


def make_reassemble(dim: int, out_channels: Sequence[int]) -> List[nn.Sequential]:
    """The four ``act_postprocess`` stacks with MiDaS's indices.

    Index 0 is the readout, 1 and 2 the (parameter-free) transpose / unflatten done
    in the forward, 3 the 1x1 projection and 4 the resampling (ConvT x4, ConvT x2,
    none, Conv stride 2).
    """
    c = list(out_channels)
    resample = [
        nn.ConvTranspose2d(c[0], c[0], 4, stride=4),
        nn.ConvTranspose2d(c[1], c[1], 2, stride=2),
        None,
        nn.Conv2d(c[3], c[3], 3, stride=2, padding=1),
    ]
    stacks = []
    for width, res in zip(c, resample):
        layers = [ProjectReadout(dim), nn.Identity(), nn.Identity(), nn.Conv2d(dim, width, 1)]
        if res is not None:
            layers.append(res)
        stacks.append(nn.Sequential(*layers))
    return stacks


class MiDaSBEiT(nn.Module):
    """BEiT encoder of MiDaS v3.1 (DPT-BEiT), official parameter layout.

    Args:
        arch (str): a key of :data:`MIDAS_BEIT_ARCHS` (``'beitl16_512'``).
        timm_kwargs (dict, optional): extra ``timm.create_model`` arguments, e.g.
            ``dict(embed_dim=64, depth=4, num_heads=2, img_size=64)`` for a tiny
            test model (then give ``hooks`` and ``out_channels`` too).
        hooks (Sequence[int], optional): the 4 hooked blocks (0-based); the arch's
            when None.
        out_channels (Sequence[int], optional): reassembly widths; the arch's when
            None.
        readout (str): only ``'project'`` (the MiDaS v3.1 BEiT release).
    """

    patch_size = 16
    feature_stride = 16

    def __init__(
        self,
        arch: str = 'beitl16_512',
        timm_kwargs: Optional[dict] = None,
        hooks: Optional[Sequence[int]] = None,
        out_channels: Optional[Sequence[int]] = None,
        readout: str = 'project',
    ) -> None:
        super().__init__()
        import timm

        if arch not in MIDAS_BEIT_ARCHS:
            raise KeyError(
                f'MiDaSBEiT: unknown arch {arch!r}; choose one of {sorted(MIDAS_BEIT_ARCHS)}'
            )
        if readout != 'project':
            raise ValueError(f"MiDaSBEiT: readout {readout!r} is not supported, only 'project'")
        spec = MIDAS_BEIT_ARCHS[arch]
        self.arch = arch
        self.model = timm.create_model(
            spec['timm_name'], pretrained=False, **dict(timm_kwargs or {})
        )
        self.hooks = tuple(int(h) for h in (hooks or spec['hooks']))
        self.out_channels = tuple(int(c) for c in (out_channels or spec['out_channels']))
        if len(self.hooks) != 4 or max(self.hooks) >= len(self.model.blocks):
            raise ValueError(
                f'MiDaSBEiT: hooks {self.hooks} must be 4 block indices below '
                f'{len(self.model.blocks)}'
            )
        dim = self.model.embed_dim
        self.embed_dim = dim
        for i, stack in enumerate(make_reassemble(dim, self.out_channels), start=1):
            setattr(self, f'act_postprocess{i}', stack)
        self.train_window = tuple(self.model.blocks[0].attn.window_size)
        self._index_cache: Dict[Tuple[int, int, str], torch.Tensor] = {}

    def _rel_pos_index(self, window: Tuple[int, int], device: torch.device) -> torch.Tensor:
        key = (window[0], window[1], str(device))
        if key not in self._index_cache:
            self._index_cache[key] = beit_relative_position_index(window, device)
        return self._index_cache[key]

    def _attention(self, attn: nn.Module, x: torch.Tensor, window: Tuple[int, int]) -> torch.Tensor:
        b, n, c = x.shape
        heads = attn.num_heads
        bias = torch.cat((attn.q_bias, torch.zeros_like(attn.v_bias), attn.v_bias))
        qkv = F.linear(x, attn.qkv.weight, bias).reshape(b, n, 3, heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        logits = (q * attn.scale) @ k.transpose(-2, -1)
        table = resize_rel_pos_table(attn.relative_position_bias_table, self.train_window, window)
        index = self._rel_pos_index(window, x.device)
        rel_bias = table[index.reshape(-1)].reshape(n, n, heads).permute(2, 0, 1)
        logits = logits + rel_bias.unsqueeze(0)
        out = logits.softmax(dim=-1) @ v
        return attn.proj(out.transpose(1, 2).reshape(b, n, c))

    def forward_tokens(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The hooked blocks' outputs (no final norm).

        Args:
            x (Tensor): normalized images (B, 3, H, W), H and W multiples of 16.

        Returns:
            list[Tensor]: 4 tensors (B, 1 + H/16 * W/16, C); token 0 is the cls token.
        """
        height, width = x.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f'MiDaSBEiT: input {height}x{width} is not a multiple of '
                f'{self.patch_size}; resize it (MiDaS uses multiples of 32)'
            )
        window = (height // self.patch_size, width // self.patch_size)
        m = self.model
        tokens = m.patch_embed.proj(x).flatten(2).transpose(1, 2)
        tokens = torch.cat((m.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        hooked = []
        for i, blk in enumerate(m.blocks[: max(self.hooks) + 1]):
            tokens = tokens + blk.drop_path1(
                blk.gamma_1 * self._attention(blk.attn, blk.norm1(tokens), window)
            )
            tokens = tokens + blk.drop_path2(blk.gamma_2 * blk.mlp(blk.norm2(tokens)))
            if i in self.hooks:
                hooked.append(tokens)
        return hooked

    def reassemble(
        self, hooked: Sequence[torch.Tensor], grid: Tuple[int, int]
    ) -> List[torch.Tensor]:
        """Readout + reassembly of the hooked tokens into 4 maps.

        Returns:
            list[Tensor]: (B, c0, 4h, 4w), (B, c1, 2h, 2w), (B, c2, h, w),
            (B, c3, ceil(h/2), ceil(w/2)) for a (h, w) patch grid.
        """
        levels = []
        for i, tokens in enumerate(hooked, start=1):
            stack = getattr(self, f'act_postprocess{i}')
            t = stack[0](tokens)
            t = t.transpose(1, 2).reshape(t.shape[0], t.shape[-1], grid[0], grid[1])
            for layer in list(stack)[3:]:
                t = layer(t)
            levels.append(t)
        return levels

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Normalized images (B, 3, H, W) -> the 4 maps fed to ``layer*_rn``."""
        grid = (x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size)
        return self.reassemble(self.forward_tokens(x), grid)

    def forward_with_feature(self, x: torch.Tensor) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """The 4 maps and the last hooked block's patch tokens as (B, C, H/16, W/16)."""
        grid = (x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size)
        hooked = self.forward_tokens(x)
        last = hooked[-1][:, 1:]
        feat = last.transpose(1, 2).reshape(last.shape[0], last.shape[-1], grid[0], grid[1])
        return self.reassemble(hooked, grid), feat

    def structural_buffers(self) -> Dict[str, torch.Tensor]:
        """The persistent buffers timm 0.6.12 saved and MiDaS never uses.

        Returns:
            dict: ``model.blocks.{i}.attn.relative_position_index`` -> the index of
            the training window (int64), for writing the official layout.
        """
        index = beit_relative_position_index(self.train_window)
        return {
            f'model.blocks.{i}.attn.relative_position_index': index.clone()
            for i in range(len(self.model.blocks))
        }
