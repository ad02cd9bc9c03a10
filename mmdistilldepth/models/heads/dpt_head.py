"""The DPT head of Depth Anything V2, in the official module layout.

Key names are the official ones (``projects.{i}``, ``resize_layers.{0,1,3}``,
``readout_projects.{i}.0`` when ``use_clstoken``, ``scratch.layer{1..4}_rn``,
``scratch.refinenet{1..4}.{out_conv,resConfUnit1,resConfUnit2}``,
``scratch.output_conv1``, ``scratch.output_conv2.{0,2}``), so official
``depth_head.*`` tensors load unchanged.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

FeatureList = Sequence[Tuple[torch.Tensor, torch.Tensor]]


class ResidualConvUnit(nn.Module):
    """``x + conv2(relu(conv1(relu(x))))`` with optional BatchNorm after each conv.

    Args:
        features (int): channels.
        use_bn (bool): BatchNorm after each conv (the convs then have no bias).
    """

    def __init__(self, features: int, use_bn: bool = False) -> None:
        super().__init__()
        self.use_bn = use_bn
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=not use_bn)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=not use_bn)
        if use_bn:
            self.bn1 = nn.BatchNorm2d(features)
            self.bn2 = nn.BatchNorm2d(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(x))
        if self.use_bn:
            out = self.bn1(out)
        out = self.conv2(F.relu(out))
        if self.use_bn:
            out = self.bn2(out)
        return out + x


class FeatureFusionBlock(nn.Module):
    """RefineNet-style fusion: add the skip, refine, upsample, 1x1 conv.

    Args:
        features (int): channels.
        use_bn (bool): BatchNorm in the residual units.
    """

    def __init__(self, features: int, use_bn: bool = False) -> None:
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features, use_bn)
        self.resConfUnit2 = ResidualConvUnit(features, use_bn)
        self.out_conv = nn.Conv2d(features, features, 1)

    def forward(
        self,
        x: torch.Tensor,
        skip: Optional[torch.Tensor] = None,
        size: Optional[Tuple[int, int]] = None,
    ) -> torch.Tensor:
        """Fuse ``x`` with ``skip`` and resize to ``size`` (x2 when None).

        Resizes are bilinear with ``align_corners=True``, as in the official head.
        """
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True)
        else:
            x = F.interpolate(x, size=tuple(size), mode='bilinear', align_corners=True)
        return self.out_conv(x)


class DPTHead(nn.Module):
    """Dense prediction head turning four ViT layers into one disparity map.

    Args:
        in_channels (int): the ViT's embedding width.
        features (int): the fusion width (64/128/256/384 for S/B/L/G).
        out_channels (Sequence[int]): the 4 per-level widths after ``projects``.
        use_bn (bool): BatchNorm in the fusion blocks (False in every release).
        use_clstoken (bool): concatenate the class token to every patch token and
            project back (``readout_projects``); False in every release.
        final_relu_after_upsample (bool): Distill-Any-Depth Large's head: its
            ``output_conv2`` ends with the 1x1 conv and the ReLU comes after a final
            bilinear resize to the input size. The official Depth Anything V2 head
            (False) has the ReLU inside ``output_conv2``. Both have the same keys and
            give identical outputs when the input is a multiple of 14.
        max_depth (float, optional): the official *metric* head (Depth Anything V2
            ``metric_depth/``): ``output_conv2`` ends with a Sigmoid instead of the
            ReLU, there is no final ReLU, and the output is ``sigmoid * max_depth``,
            metric depth in (0, max_depth) metres (20 for Hypersim, 80 for Virtual
            KITTI 2). The keys are the same as the relative head's. None (default):
            the relative head, ReLU'd disparity.
    """

    def __init__(
        self,
        in_channels: int,
        features: int = 256,
        out_channels: Sequence[int] = (256, 512, 1024, 1024),
        use_bn: bool = False,
        use_clstoken: bool = False,
        final_relu_after_upsample: bool = False,
        max_depth: Optional[float] = None,
    ) -> None:
        super().__init__()
        if max_depth is not None and (max_depth <= 0 or final_relu_after_upsample):
            raise ValueError(
                f'DPTHead: max_depth={max_depth} must be > 0 and cannot be combined '
                'with final_relu_after_upsample (a relative-only head variant)'
            )
        self.max_depth = None if max_depth is None else float(max_depth)
        out_channels = list(out_channels)
        if len(out_channels) != 4:
            raise ValueError(f'out_channels needs 4 widths, got {out_channels}')
        self.use_clstoken = use_clstoken
        self.final_relu_after_upsample = final_relu_after_upsample
        self.projects = nn.ModuleList([nn.Conv2d(in_channels, c, 1) for c in out_channels])
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(out_channels[0], out_channels[0], 4, stride=4),
                nn.ConvTranspose2d(out_channels[1], out_channels[1], 2, stride=2),
                nn.Identity(),
                nn.Conv2d(out_channels[3], out_channels[3], 3, stride=2, padding=1),
            ]
        )
        if use_clstoken:
            self.readout_projects = nn.ModuleList(
                [
                    nn.Sequential(nn.Linear(2 * in_channels, in_channels), nn.GELU())
                    for _ in out_channels
                ]
            )
        scratch = nn.Module()
        for i, c in enumerate(out_channels, start=1):
            setattr(scratch, f'layer{i}_rn', nn.Conv2d(c, features, 3, padding=1, bias=False))
        for i in range(1, 5):
            setattr(scratch, f'refinenet{i}', FeatureFusionBlock(features, use_bn))
        scratch.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        if self.max_depth is not None:  # official metric head: 4 modules, Sigmoid last
            scratch.output_conv2 = nn.Sequential(
                nn.Conv2d(features // 2, 32, 3, padding=1),
                nn.ReLU(True),
                nn.Conv2d(32, 1, 1),
                nn.Sigmoid(),
            )
            self.scratch = scratch
            return
        scratch.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, 32, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(32, 1, 1),
            nn.ReLU(True),
            nn.Identity(),
        )
        # A head trained from scratch (the paper's Table 5 setting) ends in ReLUs: with
        # PyTorch's default init the last conv's output is negative everywhere for
        # about half of the draws, the ReLU is dead and no gradient ever flows. A
        # positive bias starts the output alive; pretrained weights overwrite it.
        nn.init.constant_(scratch.output_conv2[2].bias, 1.0)
        self.scratch = scratch

    def forward(
        self,
        features: FeatureList,
        patch_h: int,
        patch_w: int,
        out_size: Optional[Tuple[int, int]] = None,
    ) -> torch.Tensor:
        """Decode the four layers into disparity.

        Args:
            features: 4 pairs ``(patch_tokens (B, patch_h*patch_w, C), cls (B, C))``.
            patch_h (int): rows of patches.
            patch_w (int): columns of patches.
            out_size (tuple, optional): input size (H, W); only used by the
                ``final_relu_after_upsample`` variant. Default (14*patch_h, 14*patch_w).

        Returns:
            Tensor: ReLU'd disparity (B, 1, 14*patch_h, 14*patch_w) (or ``out_size``
            for the Distill-Any-Depth Large variant); with ``max_depth``, metric depth
            ``sigmoid * max_depth`` in metres.
        """
        levels = []
        for i, (tokens, cls_token) in enumerate(features):
            if self.use_clstoken:
                readout = cls_token.unsqueeze(1).expand_as(tokens)
                tokens = self.readout_projects[i](torch.cat((tokens, readout), -1))
            x = tokens.permute(0, 2, 1).reshape(tokens.shape[0], tokens.shape[-1], patch_h, patch_w)
            levels.append(self.resize_layers[i](self.projects[i](x)))
        s = self.scratch
        l1, l2, l3, l4 = (getattr(s, f'layer{i + 1}_rn')(x) for i, x in enumerate(levels))
        path = s.refinenet4(l4, size=l3.shape[2:])
        path = s.refinenet3(path, l3, size=l2.shape[2:])
        path = s.refinenet2(path, l2, size=l1.shape[2:])
        path = s.refinenet1(path, l1)
        out = s.output_conv1(path)
        out = F.interpolate(out, (patch_h * 14, patch_w * 14), mode='bilinear', align_corners=True)
        if self.max_depth is not None:
            return s.output_conv2(out) * self.max_depth
        if not self.final_relu_after_upsample:
            return F.relu(s.output_conv2(out))
        out = s.output_conv2[:3](out)
        if out_size is not None and tuple(out_size) != tuple(out.shape[-2:]):
            out = F.interpolate(out, tuple(out_size), mode='bilinear', align_corners=True)
        return F.relu(out)
