"""DINOv2 ViT on timm, with Depth Anything V2's positional-embedding interpolation.

The module is timm's :class:`~timm.models.vision_transformer.VisionTransformer`
built with the DINOv2 hyper-parameters (patch 14, 518x518 pretraining grid of
37x37 patches, LayerScale, LayerNorm eps 1e-6, qkv bias). Its parameter names are
the official DINOv2 names (``cls_token``, ``pos_embed``, ``mask_token``,
``patch_embed.proj``, ``blocks.{i}.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,
mlp.fc1,mlp.fc2,ls2.gamma}``, ``norm``; ``mlp.w12``/``mlp.w3`` for the SwiGLU of
ViT-g), so an official ``pretrained.*`` state dict loads without a key map.

Two things differ from timm's own ``vit_*_patch14_dinov2`` models and are what make
the outputs match the official ones:

* the positional embedding is resized with :func:`interpolate_pos_embed_dav2`
  (bicubic, ``scale_factor=((H/14 + 0.1)/37, (W/14 + 0.1)/37)``, no antialias),
  not timm's ``resample_abs_pos_embed`` (antialiased, size-based), which moves the
  intermediate features by about 3e-2;
* the forward returns the four intermediate layers the DPT head reads, each after
  the final LayerNorm, as ``(patch_tokens, class_token)`` pairs, exactly what the
  official ``get_intermediate_layers(x, idx, return_class_token=True)`` returns.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from torch.utils.checkpoint import checkpoint as grad_checkpoint

from .pos_embed import interpolate_pos_embed_dav2, interpolate_pos_embed_traceable

#: Official DINOv2 sizes, with the blocks Depth Anything V2's DPT head reads.
DINOV2_ARCHS: Dict[str, dict] = {
    'vits': dict(embed_dim=384, depth=12, num_heads=6, layer_idx=(2, 5, 8, 11)),
    'vitb': dict(embed_dim=768, depth=12, num_heads=12, layer_idx=(2, 5, 8, 11)),
    'vitl': dict(embed_dim=1024, depth=24, num_heads=16, layer_idx=(4, 11, 17, 23)),
    'vitg': dict(embed_dim=1536, depth=40, num_heads=24, layer_idx=(9, 19, 29, 39), ffn='swiglu'),
}

#: The same architectures under timm's names.
TIMM_NAMES = {
    'vit_small_patch14_dinov2': 'vits',
    'vit_base_patch14_dinov2': 'vitb',
    'vit_large_patch14_dinov2': 'vitl',
    'vit_giant_patch14_dinov2': 'vitg',
}

FeatureList = List[Tuple[torch.Tensor, torch.Tensor]]


class SwiGLUFFN(nn.Module):
    """DINOv2's SwiGLU feed-forward (``SwiGLUFFNFused``), with its key names.

    ``hidden = silu(x1) * x2`` with ``[x1, x2] = w12(x).chunk(2)``, then ``w3``.
    The hidden width is ``(int(hidden_features * 2 / 3) + 7) // 8 * 8`` (4096 for
    ViT-g with mlp ratio 4), as in DINOv2. The signature is timm's ``mlp_layer``'s.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: Optional[int] = None,
        out_features: Optional[int] = None,
        act_layer=None,
        norm_layer=None,
        bias: bool = True,
        drop: float = 0.0,
        **factory,
    ) -> None:
        super().__init__()
        out_features = out_features or in_features
        hidden = (int((hidden_features or in_features) * 2 / 3) + 7) // 8 * 8
        self.w12 = nn.Linear(in_features, 2 * hidden, bias=bias, **factory)
        self.w3 = nn.Linear(hidden, out_features, bias=bias, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)


def resolve_arch(arch: Union[str, dict]) -> dict:
    """Turn ``'vits'`` (or a timm name) or a custom dict into a full arch dict.

    A custom dict needs ``embed_dim``, ``depth`` and ``num_heads``; it may give
    ``layer_idx`` (default: four evenly spaced blocks ending with the last),
    ``mlp_ratio`` (4) and ``ffn`` (``'mlp'`` or ``'swiglu'``).
    """
    if isinstance(arch, str):
        name = TIMM_NAMES.get(arch, arch)
        if name not in DINOV2_ARCHS:
            raise KeyError(
                f'unknown DINOv2 encoder {arch!r}; choose one of '
                f'{sorted(DINOV2_ARCHS)} or give a dict with embed_dim, '
                'depth and num_heads'
            )
        arch = DINOV2_ARCHS[name]
    missing = {'embed_dim', 'depth', 'num_heads'} - set(arch)
    if missing:
        raise KeyError(f'custom encoder {dict(arch)} lacks {sorted(missing)}')
    arch = dict(arch)
    depth = arch['depth']
    arch.setdefault('layer_idx', tuple(math.ceil(depth * (k + 1) / 4) - 1 for k in range(4)))
    arch.setdefault('mlp_ratio', 4.0)
    arch.setdefault('ffn', 'mlp')
    arch['layer_idx'] = tuple(int(i) for i in arch['layer_idx'])
    if len(arch['layer_idx']) != 4 or not all(0 <= i < depth for i in arch['layer_idx']):
        raise ValueError(f'layer_idx {arch["layer_idx"]} must name 4 blocks of 0..{depth - 1}')
    if arch['ffn'] not in ('mlp', 'swiglu'):
        raise ValueError(f"ffn must be 'mlp' or 'swiglu', got {arch['ffn']!r}")
    return arch


class DINOv2ViT(VisionTransformer):
    """DINOv2 ViT returning the intermediate layers Depth Anything V2's head reads.

    Args:
        arch (str | dict): ``'vits'|'vitb'|'vitl'|'vitg'`` (or the timm names
            ``vit_{small,base,large,giant}_patch14_dinov2``), or a custom dict
            ``dict(embed_dim, depth, num_heads[, layer_idx, mlp_ratio, ffn])``.
        out_indices (Sequence[int], optional): blocks to return; the arch's
            ``layer_idx`` by default.
        img_size (int): pretraining size; the positional grid is img_size // 14.
        patch_size (int): 14 for DINOv2.
        fused_attn (bool): use ``F.scaled_dot_product_attention`` (default) or the
            plain ``softmax(q k^T / sqrt(d)) v`` of the official code.
        drop_path_rate (float): stochastic depth for training students.
        with_cp (bool): gradient checkpointing of every block while training.
        init_values (float): LayerScale init; the official model uses 1.0.
    """

    def __init__(
        self,
        arch: Union[str, dict] = 'vitl',
        out_indices: Optional[Sequence[int]] = None,
        img_size: int = 518,
        patch_size: int = 14,
        fused_attn: bool = True,
        drop_path_rate: float = 0.0,
        with_cp: bool = False,
        init_values: float = 1.0,
        **factory,
    ) -> None:
        arch = resolve_arch(arch)
        swiglu = arch['ffn'] == 'swiglu'
        super().__init__(
            img_size=img_size,
            patch_size=patch_size,
            num_classes=0,
            global_pool='',
            embed_dim=arch['embed_dim'],
            depth=arch['depth'],
            num_heads=arch['num_heads'],
            mlp_ratio=arch['mlp_ratio'],
            qkv_bias=True,
            init_values=init_values,
            dynamic_img_size=True,
            drop_path_rate=drop_path_rate,
            mlp_layer=SwiGLUFFN if swiglu else Mlp,
            act_layer=nn.SiLU if swiglu else nn.GELU,
            **factory,
        )
        self.arch = arch
        self.patch_size = patch_size
        self.out_indices = tuple(out_indices if out_indices is not None else arch['layer_idx'])
        self.with_cp = with_cp
        # Unused at inference; kept so official checkpoints load with strict=True.
        self.mask_token = nn.Parameter(torch.zeros(1, arch['embed_dim'], **factory))
        self.set_fused_attn(fused_attn)

    def set_fused_attn(self, enabled: bool) -> None:
        """Switch every block between fused SDPA and the plain softmax attention."""
        for block in self.blocks:
            block.attn.fused_attn = bool(enabled)

    @property
    def fused_attn(self) -> bool:
        return all(block.attn.fused_attn for block in self.blocks)

    def prepare_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) image -> (B, 1 + N, C) tokens with positional embeddings."""
        height, width = x.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f'input size {height}x{width} is not a multiple of the patch '
                f'size {self.patch_size}; resize it first (e.g. with '
                'mmdistilldepth.apis.dav2_input_size)'
            )
        tokens = self.patch_embed(x).flatten(1, 2)  # NHWC -> (B, N, C)
        tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        # As in DINOv2: a resized embedding takes the tokens' dtype (under autocast),
        # the unchanged one is added as stored.
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            pos_embed = interpolate_pos_embed_traceable(
                self.pos_embed, height, width, self.patch_size
            )
        else:
            pos_embed = interpolate_pos_embed_dav2(self.pos_embed, height, width, self.patch_size)
        if pos_embed is not self.pos_embed:
            pos_embed = pos_embed.to(tokens.dtype)
        return tokens + pos_embed

    def forward(self, x: torch.Tensor) -> FeatureList:
        """Run the blocks and collect the normalized outputs of ``out_indices``.

        Args:
            x (Tensor): normalized images (B, 3, H, W), H and W multiples of 14.

        Returns:
            list[tuple[Tensor, Tensor]]: per selected block, the patch tokens
            (B, H/14 * W/14, C) in row-major order and the class token (B, C), both
            after the final LayerNorm.
        """
        tokens = self.prepare_tokens(x)
        taken = {}
        for i, block in enumerate(self.blocks[: max(self.out_indices) + 1]):
            if self.with_cp and self.training and torch.is_grad_enabled():
                tokens = grad_checkpoint(block, tokens, use_reentrant=False)
            else:
                tokens = block(tokens)
            if i in self.out_indices:
                taken[i] = self.norm(tokens)
        return [(taken[i][:, 1:], taken[i][:, 0]) for i in self.out_indices]

    def init_weights(self, mode: str = '', needs_reset: bool = True) -> None:
        """Timm's ViT init; only runs while timm constructs the module.

        MMEngine's ``BaseModule.init_weights`` recurses into children that define
        ``init_weights``; re-drawing the weights there would erase a loaded
        checkpoint, so later calls are ignored.
        """
        if getattr(self, '_constructed', False):
            return
        super().init_weights(mode, needs_reset)
        self._constructed = True
