"""MiDaS v3.1 (DPT-BEiT-L/16-512, DPT-Swin2-T/16-256) as an MMEngine model."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmdistilldepth.registry import MODELS

from ..backbones.midas_beit import MiDaSBEiT
from ..backbones.midas_swin2 import MiDaSSwin2
from ..data_preprocessor import DepthDataPreprocessor  # noqa: F401  (registers it)
from ..heads.midas_dpt_head import MiDaSDPTHead
from .base_estimator import BaseDepthEstimator

MIDAS_MEAN = (0.5, 0.5, 0.5)
MIDAS_STD = (0.5, 0.5, 0.5)

# The blocks stay framework-free; the registry learns them here.
for _cls in (MiDaSBEiT, MiDaSSwin2, MiDaSDPTHead):
    if MODELS.get(_cls.__name__) is None:
        MODELS.register_module(module=_cls)

#: The MiDaS v3.1 releases built here: backbone, network size, aspect handling.
MIDAS_MODELS: Dict[str, dict] = {
    'dpt_beit_large_512': dict(
        backbone=dict(type='MiDaSBEiT', arch='beitl16_512'), net_size=512, keep_aspect_ratio=True
    ),
    'dpt_swin2_tiny_256': dict(
        backbone=dict(type='MiDaSSwin2', arch='swin2t16_256'), net_size=256, keep_aspect_ratio=False
    ),
}
_BACKBONES = {'MiDaSBEiT': MiDaSBEiT, 'MiDaSSwin2': MiDaSSwin2}


def midas_input_size(
    height: int, width: int, net_size: int = 512, keep_aspect_ratio: bool = True, multiple: int = 32
) -> Tuple[int, int]:
    """MiDaS's "minimal" resize target (``transforms.Resize``, ``resize_method='minimal'``).

    ``scale_h = net/h``, ``scale_w = net/w``; with the aspect kept both use the scale
    closer to 1. Each side is ``round(scale * side / multiple) * multiple`` (numpy,
    half to even), without a bound: 480x600 -> 512x640 for net 512.

    Returns:
        tuple: (new_height, new_width).
    """
    scale_h, scale_w = net_size / height, net_size / width
    if keep_aspect_ratio:
        if abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h
    return (
        int(np.round(scale_h * height / multiple) * multiple),
        int(np.round(scale_w * width / multiple) * multiple),
    )


def guess_midas_model_type(state: Dict[str, torch.Tensor]) -> Optional[str]:
    """The release (a key of :data:`MIDAS_MODELS`) a MiDaS state dict belongs to, or None.

    Recognised by the encoder width: BEiT-L (1024, 24 blocks, 3972-row tables) and
    Swin2-T (96-channel patch embedding, depths 2/2/6/2).
    """
    patch = state.get('pretrained.model.patch_embed.proj.weight')
    if patch is None:
        return None
    if any(k.startswith('pretrained.model.blocks.') for k in state):
        table = state.get('pretrained.model.blocks.0.attn.relative_position_bias_table')
        blocks = {k.split('.')[3] for k in state if k.startswith('pretrained.model.blocks.')}
        if (
            patch.shape[0] == 1024
            and len(blocks) == 24
            and table is not None
            and table.shape[0] == 3972
        ):
            return 'dpt_beit_large_512'
        return None
    stage2 = {k.split('.')[5] for k in state if k.startswith('pretrained.model.layers.2.blocks.')}
    if patch.shape[0] == 96 and len(stage2) == 6:
        return 'dpt_swin2_tiny_256'
    return None


class _TokenEncoder(nn.Module):
    """The student's encoder seen as the distiller's feature encoder.

    ``forward(x)`` returns ``[(tokens (B, h*w, C), None)]`` of the feature level
    :meth:`MiDaS.forward_with_features` returns, and ``patch_size`` its stride.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.patch_size = backbone.feature_stride

    def forward(self, x: torch.Tensor) -> List[Tuple[torch.Tensor, None]]:
        feat = self.backbone.forward_with_feature(x)[1]
        return [(feat.flatten(2).transpose(1, 2), None)]


@MODELS.register_module()
class MiDaS(BaseDepthEstimator):
    """MiDaS v3.1 DPT: a BEiT or Swin-V2 encoder + DPT decoder -> relative disparity.

    Parameter names are the official ones (``pretrained.model.*``,
    ``pretrained.act_postprocess*``, ``scratch.*``) with current timm's names inside
    ``pretrained.model``; :mod:`~mmdistilldepth.models.midas_checkpoint` maps the
    official ``.pt`` files in and out.

    Args:
        model_type (str): ``'dpt_beit_large_512'`` or ``'dpt_swin2_tiny_256'``; sets the
            backbone and the preprocessing defaults.
        backbone (dict, optional): overrides of the backbone config, e.g.
            ``dict(timm_kwargs=dict(embed_dim=64, depth=4, num_heads=2), hooks=[0, 1,
            2, 3], out_channels=[32, 64, 128, 128])`` for a tiny test model.
        features (int): DPT fusion width (256).
        non_negative (bool): final ReLU (True).
        net_size (int, optional): preprocessing target (512 / 256).
        keep_aspect_ratio (bool, optional): preprocessing aspect handling (BEiT
            keeps it, Swin2 squashes to a square).
        checkpoint (str, optional): weights loaded at construction (official ``.pt``
            or ours).
        checkpoint_scope (str): ``'all'`` or ``'encoder'`` (Table 5: decoder from
            scratch).
        data_preprocessor (dict | nn.Module, optional): default
            ``DepthDataPreprocessor`` with mean = std = 0.5 (``(x - 0.5) / 0.5``).
        init_cfg (dict, optional): unused.
    """

    checkpoint_family = 'midas'

    def __init__(
        self,
        model_type: str = 'dpt_beit_large_512',
        backbone: Optional[dict] = None,
        features: int = 256,
        non_negative: bool = True,
        net_size: Optional[int] = None,
        keep_aspect_ratio: Optional[bool] = None,
        checkpoint: Optional[str] = None,
        checkpoint_scope: str = 'all',
        data_preprocessor: Optional[Union[dict, nn.Module]] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='DepthDataPreprocessor', mean=MIDAS_MEAN, std=MIDAS_STD)
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if model_type not in MIDAS_MODELS:
            raise KeyError(
                f'MiDaS: unknown model_type {model_type!r}; choose one of {sorted(MIDAS_MODELS)}'
            )
        spec = MIDAS_MODELS[model_type]
        self.model_type = model_type
        backbone_cfg = dict(spec['backbone'])
        backbone_cfg.update(backbone or {})
        backbone_type = backbone_cfg.pop('type')
        if backbone_type not in _BACKBONES:
            raise KeyError(
                f'MiDaS: backbone type {backbone_type!r} is not one of {sorted(_BACKBONES)}'
            )
        self.backbone_name = f'{backbone_type}({backbone_cfg.get("arch")})'
        self.pretrained = _BACKBONES[backbone_type](**backbone_cfg)
        self.scratch = MiDaSDPTHead(
            self.pretrained.out_channels, features, non_negative=non_negative
        )
        self.net_size = int(net_size or spec['net_size'])
        self.keep_aspect_ratio = (
            spec['keep_aspect_ratio'] if keep_aspect_ratio is None else bool(keep_aspect_ratio)
        )
        self.checkpoint = checkpoint
        if checkpoint is not None:
            from ..checkpoint_loading import load_depth_checkpoint

            load_depth_checkpoint(self, checkpoint, scope=checkpoint_scope)

    # ---------------------------------------------------------------- structure
    @property
    def backbone(self) -> nn.Module:
        """The encoder as the distiller's feature encoder (tokens of the feature level)."""
        return _TokenEncoder(self.pretrained)

    @property
    def encoder(self) -> nn.Module:
        return self.pretrained

    @property
    def patch_size(self) -> int:
        return self.pretrained.patch_size

    def init_weights(self) -> None:
        """Nothing to do: modules are initialized (and the checkpoint loaded) at
        construction. Overridden so the runner's call cannot re-draw the weights.
        """

    def structural_buffers(self) -> Dict[str, torch.Tensor]:
        """Timm 0.6.12's persistent structural buffers, under official names."""
        return {f'pretrained.{k}': v for k, v in self.pretrained.structural_buffers().items()}

    # ---------------------------------------------------------------- forward
    def extract_feat(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        """The 4 maps fed to ``scratch.layer*_rn`` (finest first)."""
        return self.pretrained(inputs)

    def forward_intermediates(
        self, inputs: torch.Tensor
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Disparity (B, 1, H, W) and ``levels``, ``path1``, ``prerelu`` for checks."""
        levels = self.extract_feat(inputs)
        out, extra = self.scratch.forward_intermediates(levels)
        extra['levels'] = levels
        return out, extra

    def forward_with_features(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Disparity (B, 1, H, W) and the encoder's feature map (for ``L_feat``).

        The feature map is the last hooked BEiT block's patch tokens (B, C, H/16,
        W/16), or Swin2's last stage (B, C, H/32, W/32).
        """
        levels, feat = self.pretrained.forward_with_feature(inputs)
        return self.scratch(levels), feat

    def _forward(self, inputs: torch.Tensor, data_samples=None) -> torch.Tensor:
        return self.scratch(self.extract_feat(inputs))

    # ---------------------------------------------------------------- test-time I/O
    def network_size(
        self, height: int, width: int, input_size: Optional[int] = None
    ) -> Tuple[int, int]:
        """The network input (h, w) for an image of (height, width)."""
        size = self.net_size if input_size is None else int(input_size)
        if isinstance(self.pretrained, MiDaSSwin2):
            return tuple(self.pretrained.img_size)  # the fixed window layout
        return midas_input_size(height, width, size, self.keep_aspect_ratio)

    def prepare_inputs(
        self, rgb: np.ndarray, input_size: Optional[int] = None, max_size: Optional[int] = None
    ) -> torch.Tensor:
        """RGB uint8 (H, W, 3) -> the official network input (1, 3, h, w), float32.

        ``/255`` in float64, cv2 ``INTER_CUBIC`` to :meth:`network_size`, ``(x - 0.5) /
        0.5``, CHW, float32 (MiDaS ``utils.read_image`` + its transform).

        Args:
            rgb (ndarray): RGB uint8 image.
            input_size (int, optional): the target side (``net_size`` when None).
            max_size (int, optional): cap of the long side (rounded down to 32);
                None as the official code. Ignored by Swin2 (fixed size).
        """
        from mmdistilldepth.apis.preprocessing import prepare_midas_input

        h, w = self.network_size(rgb.shape[0], rgb.shape[1], input_size)
        if (
            max_size is not None
            and max(h, w) > max_size
            and not isinstance(self.pretrained, MiDaSSwin2)
        ):
            scale = max_size / max(h, w)
            h, w = (max(32, int(h * scale) // 32 * 32), max(32, int(w * scale) // 32 * 32))
        return torch.from_numpy(prepare_midas_input(rgb, (h, w)))

    @staticmethod
    def resize_output(pred: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """(B, 1, h, w) -> (B, 1, H, W): bicubic, ``align_corners=False`` (run.py)."""
        return F.interpolate(pred, tuple(hw), mode='bicubic', align_corners=False)
