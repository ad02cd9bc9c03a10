"""The DPT decoder of MiDaS v3.1 (``scratch.*``), in the official module layout.

Compared with Depth Anything V2's head (:class:`~.dpt_head.DPTHead`) the fusion
blocks are the same (reused from there) but the projections live in the backbone,
and the output stack is one ``scratch.output_conv`` Sequential: conv3x3 F -> F/2,
a fixed x2 bilinear (``align_corners=True``) upsample, conv3x3 F/2 -> 32, ReLU,
conv1x1 32 -> 1, ReLU (``non_negative``), Identity; no extra ReLU after it.

Key names: ``layer{1..4}_rn``, ``refinenet{1..4}.{out_conv,resConfUnit1,resConfUnit2}``,
``output_conv.{0,2,4}``: the estimator stores this module as ``scratch`` so official
``scratch.*`` tensors load unchanged.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .dpt_head import FeatureFusionBlock


class Interpolate(nn.Module):
    """A fixed-scale resize as a module (no parameters).

    Args:
        scale_factor (float): the resize factor.
        mode (str): ``F.interpolate`` mode.
        align_corners (bool): ``F.interpolate`` align_corners.
    """

    def __init__(
        self, scale_factor: float = 2.0, mode: str = 'bilinear', align_corners: bool = True
    ) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(
            x, scale_factor=self.scale_factor, mode=self.mode, align_corners=self.align_corners
        )


class MiDaSDPTHead(nn.Module):
    """Four backbone maps -> non-negative relative disparity at twice level 0's size.

    Args:
        in_channels (Sequence[int]): widths of the 4 maps (256/512/1024/1024 for
            BEiT-L, 96/192/384/768 for Swin2-T).
        features (int): fusion width (256 in MiDaS v3.1).
        non_negative (bool): the final ReLU (True in every release).
        use_bn (bool): BatchNorm in the fusion blocks (False in every release).
        head_features_2 (int): width before the last 1x1 conv (32).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        features: int = 256,
        non_negative: bool = True,
        use_bn: bool = False,
        head_features_2: int = 32,
    ) -> None:
        super().__init__()
        in_channels = list(in_channels)
        if len(in_channels) != 4:
            raise ValueError(f'MiDaSDPTHead needs 4 input widths, got {in_channels}')
        for i, c in enumerate(in_channels, start=1):
            setattr(self, f'layer{i}_rn', nn.Conv2d(c, features, 3, padding=1, bias=False))
        for i in range(1, 5):
            setattr(self, f'refinenet{i}', FeatureFusionBlock(features, use_bn))
        self.output_conv = nn.Sequential(
            nn.Conv2d(features, features // 2, 3, padding=1),
            Interpolate(scale_factor=2, mode='bilinear', align_corners=True),
            nn.Conv2d(features // 2, head_features_2, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(head_features_2, 1, 1),
            nn.ReLU(True) if non_negative else nn.Identity(),
            nn.Identity(),
        )
        # As DPTHead: a positive last bias keeps a from-scratch head's ReLU alive
        # (Table 5 trains the decoder from scratch); loaded weights overwrite it.
        nn.init.constant_(self.output_conv[4].bias, 1.0)

    def forward_intermediates(
        self, levels: Sequence[torch.Tensor]
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Decode and also return ``path1`` (refinenet1) and ``prerelu`` (conv .4).

        Returns:
            tuple: disparity (B, 1, 4h0, 4w0) for level 0 of (h0, w0), and a dict with
            ``path1`` (refinenet1's output, (B, F, 2h0, 2w0)) and ``prerelu`` (the
            last conv's output before the final ReLU, (B, 1, 4h0, 4w0)).
        """
        l1, l2, l3, l4 = (getattr(self, f'layer{i + 1}_rn')(x) for i, x in enumerate(levels))
        path = self.refinenet4(l4, size=l3.shape[2:])
        path = self.refinenet3(path, l3, size=l2.shape[2:])
        path = self.refinenet2(path, l2, size=l1.shape[2:])
        path1 = self.refinenet1(path, l1)
        prerelu = self.output_conv[:5](path1)
        out = self.output_conv[5:](prerelu)
        return out, dict(path1=path1, prerelu=prerelu)

    def forward(self, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        """Decode the 4 maps (finest first) into disparity (B, 1, H, W).

        For the DPT backbones level 0 is at H/4, so the output is at the input size.
        """
        return self.forward_intermediates(levels)[0]
