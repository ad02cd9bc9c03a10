"""Depth Anything V2 (S/B/L/G or a custom small ViT) as an MMEngine model."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from mmdistilldepth.registry import MODELS
from mmdistilldepth.utils.constants import IMAGENET_MEAN, IMAGENET_STD

from ..backbones import DINOv2ViT, resolve_arch
from ..data_preprocessor import DepthDataPreprocessor  # noqa: F401  (registers it)
from ..heads import DPTHead
from .base_estimator import BaseDepthEstimator

# The blocks import no mmengine (they run outside the framework); they are
# registered here, where the estimator that builds them from config lives.
for _block in (DINOv2ViT, DPTHead):
    if MODELS.get(_block.__name__) is None:
        MODELS.register_module(module=_block)


#: Official (features, out_channels) of each size.
DAV2_HEADS = {
    'vits': (64, (48, 96, 192, 384)),
    'vitb': (128, (96, 192, 384, 768)),
    'vitl': (256, (256, 512, 1024, 1024)),
    'vitg': (384, (1536, 1536, 1536, 1536)),
}


@MODELS.register_module()
class DepthAnythingV2(BaseDepthEstimator):
    """Depth Anything V2: DINOv2 encoder + DPT head -> relative disparity (or metric depth).

    Parameter names are the official ones (``pretrained.*``, ``depth_head.*``), so
    official checkpoints load without a key map; ``backbone`` and ``encoder`` are
    aliases of ``pretrained``.

    Args:
        encoder (str | dict): ``'vits'|'vitb'|'vitl'|'vitg'``, or a custom ViT
            ``dict(embed_dim=96, depth=4, num_heads=3, layer_idx=(0, 1, 2, 3))``
            (see :func:`~mmdistilldepth.models.backbones.resolve_arch`).
        features (int, optional): DPT fusion width; the official value of the named
            encoder when None (64 for a custom encoder).
        out_channels (Sequence[int], optional): DPT level widths; official value
            when None (``[e//8, e//4, e//2, e]`` of embed_dim e for a custom one).
        use_bn (bool): BatchNorm in the fusion blocks.
        use_clstoken (bool): class-token readout in the head.
        final_relu_after_upsample (bool): Distill-Any-Depth Large's head variant.
        max_depth (float, optional): build the official **metric** model (Depth
            Anything V2 ``metric_depth/``: Hypersim indoor 20, Virtual KITTI 2
            outdoor 80): the head ends in ``sigmoid * max_depth`` and the output is
            metric depth in metres (``pred_space = 'depth'``). The official metric
            checkpoints have the same keys and load as they are. None: relative
            disparity (``pred_space = 'disparity'``).
        fused_attn (bool): fused SDPA (default) or the plain softmax attention.
        drop_path_rate (float): stochastic depth of the encoder (training).
        with_cp (bool): gradient checkpointing of the encoder blocks (training).
        checkpoint (str, optional): weights loaded at construction with
            :func:`~mmdistilldepth.models.checkpoint_loading.load_depth_checkpoint`
            (official ``.pth``, Distill-Any-Depth ``.safetensors`` or ours).
        checkpoint_scope (str): ``'all'``, or ``'encoder'`` to load only the
            encoder and train the head from scratch (the paper's Table 5).
        data_preprocessor (dict | nn.Module, optional): default
            ``DepthDataPreprocessor`` with ImageNet mean/std.
        init_cfg (dict, optional): unused; modules are initialized at construction.
    """

    def __init__(
        self,
        encoder: Union[str, dict] = 'vitl',
        features: Optional[int] = None,
        out_channels: Optional[Sequence[int]] = None,
        use_bn: bool = False,
        use_clstoken: bool = False,
        final_relu_after_upsample: bool = False,
        max_depth: Optional[float] = None,
        fused_attn: bool = True,
        drop_path_rate: float = 0.0,
        with_cp: bool = False,
        checkpoint: Optional[str] = None,
        checkpoint_scope: str = 'all',
        data_preprocessor: Optional[Union[dict, nn.Module]] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='DepthDataPreprocessor', mean=IMAGENET_MEAN, std=IMAGENET_STD
            )
        if isinstance(data_preprocessor, dict):  # our registry, not mmengine's root
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        arch = resolve_arch(encoder)
        default_features, default_channels = DAV2_HEADS.get(
            encoder if isinstance(encoder, str) else '',
            (64, tuple(arch['embed_dim'] // d for d in (8, 4, 2, 1))),
        )
        self.encoder_name = encoder if isinstance(encoder, str) else 'custom'
        self.pretrained = MODELS.build(
            dict(
                type='DINOv2ViT',
                arch=arch,
                fused_attn=fused_attn,
                drop_path_rate=drop_path_rate,
                with_cp=with_cp,
            )
        )
        self.depth_head = MODELS.build(
            dict(
                type='DPTHead',
                in_channels=arch['embed_dim'],
                features=features or default_features,
                out_channels=out_channels or default_channels,
                use_bn=use_bn,
                use_clstoken=use_clstoken,
                final_relu_after_upsample=final_relu_after_upsample,
                max_depth=max_depth,
            )
        )
        self.max_depth = None if max_depth is None else float(max_depth)
        self.pred_space = 'disparity' if max_depth is None else 'depth'
        # Kept for strict loading of official checkpoints, never used by the forward:
        # frozen, so that DDP runs with find_unused_parameters=False.
        unused = [self.pretrained.mask_token]
        unused += list(self.depth_head.scratch.refinenet4.resConfUnit1.parameters())
        for param in unused:
            param.requires_grad_(False)
        self.checkpoint = checkpoint
        if checkpoint is not None:
            from ..checkpoint_loading import load_depth_checkpoint

            load_depth_checkpoint(self, checkpoint, scope=checkpoint_scope)

    @property
    def backbone(self) -> DINOv2ViT:
        """The DINOv2 encoder (official name: ``pretrained``)."""
        return self.pretrained

    @property
    def encoder(self) -> DINOv2ViT:
        return self.pretrained

    @property
    def patch_size(self) -> int:
        return self.pretrained.patch_size

    def init_weights(self) -> None:
        """Nothing to do: modules are initialized (and the checkpoint loaded) at
        construction. Overridden so the runner's call cannot re-draw the weights.
        """

    def set_fused_attn(self, enabled: bool) -> None:
        """Switch the encoder between fused SDPA and plain softmax attention."""
        self.pretrained.set_fused_attn(enabled)

    def extract_feat(self, inputs: torch.Tensor) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """The encoder's four normalized layers as (patch tokens, class token) pairs."""
        return self.pretrained(inputs)

    def forward_with_features(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Disparity and the last encoder layer as a feature map.

        Args:
            inputs (Tensor): normalized images (B, 3, H, W), H and W multiples of 14.

        Returns:
            tuple: disparity (B, 1, H, W) and the last selected layer's normalized
            patch tokens as a map (B, C, H/14, W/14).
        """
        height, width = inputs.shape[-2:]
        patch_h, patch_w = height // self.patch_size, width // self.patch_size
        feats = self.extract_feat(inputs)
        disparity = self.depth_head(feats, patch_h, patch_w, out_size=(height, width))
        tokens = feats[-1][0]
        feat_map = tokens.transpose(1, 2).reshape(
            tokens.shape[0], tokens.shape[-1], patch_h, patch_w
        )
        return disparity, feat_map

    def _forward(self, inputs: torch.Tensor, data_samples=None) -> torch.Tensor:
        return self.forward_with_features(inputs)[0]
