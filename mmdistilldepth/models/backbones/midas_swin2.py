"""MiDaS v3.1's Swin-V2 backbone (``swin2t16_256``) on a timm SwinV2.

The timm model (``timm.create_model('swinv2_tiny_window16_256', pretrained=False)``)
holds the parameters under ``model.*``. Its blocks compute exactly what timm
0.6.12's did (cosine attention, ``16 * sigmoid(cpb_mlp)`` bias, res-post-norm,
shift 8 in stages 0-1, window clipped to 8 in stage 3), but current timm keeps a
stage's PatchMerging at the *start* of the next stage (``layers.{i+1}.downsample``)
where timm 0.6.12 -- and so the MiDaS checkpoints -- kept it at the *end* of stage i
(``layers.{i}.downsample``); :mod:`~mmdistilldepth.models.midas_checkpoint` maps
the names. The forward here runs the stages itself and takes the outputs of the
hooked blocks before the merging and without the final norm, as (B, C, h, w) maps
at H/4, H/8, H/16 and H/32 that go straight to the DPT head.

The input size is fixed at construction (256x256 for the release): the shifted
window masks and window grids are built for it.

Plain torch + timm; no framework imports.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

#: MiDaS's Swin-V2 variants: timm name (hooks default to each stage's last block).
MIDAS_SWIN2_ARCHS: Dict[str, dict] = {
    'swin2t16_256': dict(timm_name='swinv2_tiny_window16_256'),
    'swin2b24_384': dict(timm_name='swinv2_base_window12to24_192to384'),
    'swin2l24_384': dict(timm_name='swinv2_large_window12to24_192to384'),
}


class MiDaSSwin2(nn.Module):
    """Swin-V2 encoder of MiDaS v3.1 (DPT-Swin2), hooks on the last block of a stage.

    Args:
        arch (str): a key of :data:`MIDAS_SWIN2_ARCHS` (``'swin2t16_256'``).
        timm_kwargs (dict, optional): extra ``timm.create_model`` arguments, e.g.
            ``dict(embed_dim=24, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1),
            img_size=64, window_size=8)`` for a tiny test model.
        hooks (Sequence[int], optional): block index hooked in each of the 4
            stages; the last block of each stage when None (``[1, 1, 5, 1]`` for
            Swin2-T, as MiDaS).
    """

    patch_size = 4
    feature_stride = 32

    def __init__(
        self,
        arch: str = 'swin2t16_256',
        timm_kwargs: Optional[dict] = None,
        hooks: Optional[Sequence[int]] = None,
    ) -> None:
        super().__init__()
        import timm

        if arch not in MIDAS_SWIN2_ARCHS:
            raise KeyError(
                f'MiDaSSwin2: unknown arch {arch!r}; choose one of {sorted(MIDAS_SWIN2_ARCHS)}'
            )
        self.arch = arch
        self.model = timm.create_model(
            MIDAS_SWIN2_ARCHS[arch]['timm_name'], pretrained=False, **dict(timm_kwargs or {})
        )
        depths = [len(stage.blocks) for stage in self.model.layers]
        if len(depths) != 4:
            raise ValueError(f'MiDaSSwin2 needs 4 stages, got {len(depths)}')
        self.hooks = tuple(
            int(h) for h in (hooks if hooks is not None else [d - 1 for d in depths])
        )
        if len(self.hooks) != 4 or any(h >= d for h, d in zip(self.hooks, depths)):
            raise ValueError(f'MiDaSSwin2: hooks {self.hooks} do not fit depths {depths}')
        self.img_size = tuple(self.model.patch_embed.img_size)
        self.out_channels = tuple(
            int(stage.blocks[0].norm1.normalized_shape[0]) for stage in self.model.layers
        )

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Normalized images (B, 3, H, W) -> 4 maps (B, C_i, H/2^(i+2), W/2^(i+2)).

        Raises:
            ValueError: an input size other than the constructed one.
        """
        if tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(
                f'MiDaSSwin2 ({self.arch}) runs at {self.img_size[0]}x{self.img_size[1]} '
                f'only, got {tuple(x.shape[-2:])}: resize the image (MiDaS squashes every '
                'image to this square) or build it with timm_kwargs=dict(img_size=...)'
            )
        m = self.model
        tokens = m.patch_embed(x)  # (B, h, w, C), normalized
        levels = []
        for stage, hook in zip(m.layers, self.hooks):
            tokens = stage.downsample(tokens)
            for i, blk in enumerate(stage.blocks):
                tokens = blk(tokens)
                if i == hook:
                    levels.append(tokens.permute(0, 3, 1, 2).contiguous())
        return levels

    def forward_with_feature(self, x: torch.Tensor) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """The 4 maps and the deepest one again as the feature map (B, C, H/32, W/32)."""
        levels = self.forward(x)
        return levels, levels[-1]

    def structural_buffers(self) -> Dict[str, torch.Tensor]:
        """The shifted-window masks timm 0.6.12 saved as persistent buffers.

        Returns:
            dict: ``model.layers.{i}.blocks.{j}.attn_mask`` (timm 0.6.12 names) ->
            (windows, N, N) float masks of 0 / -100, for writing the official layout.
        """
        out = {}
        for i, stage in enumerate(self.model.layers):
            for j, blk in enumerate(stage.blocks):
                mask = blk.get_attn_mask(device=torch.device('cpu'), dtype=torch.float32)
                if mask is not None:
                    out[f'model.layers.{i}.blocks.{j}.attn_mask'] = mask
        return out
