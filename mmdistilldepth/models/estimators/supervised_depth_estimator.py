"""Supervised fine-tuning of a depth estimator on labeled depth (relative or metric)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel

from mmdistilldepth.registry import MODELS
from mmdistilldepth.structures import DepthDataSample


@MODELS.register_module()
class SupervisedDepthEstimator(BaseModel):
    """Train a depth estimator (the ``student``) on ground-truth depth.

    What is learned follows the student's ``pred_space``:

    - **metric** (``'depth'``, e.g. ``DepthAnythingV2(max_depth=20)``): the
      prediction is compared with the ground-truth depth by ``loss`` (default
      :class:`~mmdistilldepth.models.losses.SiLogLoss`, lambda 0.5, as Depth Anything
      V2's metric fine-tuning);
    - **relative** (``'disparity'``): the ground truth is turned into disparity
      ``1 / depth`` and compared after per-image normalization (default
      :class:`~mmdistilldepth.models.losses.NormalizedL1Loss` with global median/MAD
      normalization, i.e. affine-invariant), optionally with ``loss_grad``
      (:class:`~mmdistilldepth.models.losses.GradientMatchingLoss`).

    A pixel counts when its depth is > ``min_depth``, <= ``max_depth`` (default: the
    student's ``max_depth``, DAv2's training range) and inside ``gt_valid_mask``
    when the sample has one. The prediction is resized to the ground truth's size
    (bilinear, ``align_corners=True``) when they differ.

    The estimator is kept as ``student``, so a fine-tuned checkpoint has the same
    ``student.*`` keys as a distilled one: ``tools/test.py``, ``tools/infer.py``,
    ``init_model`` and the converters read both. In ``predict``/``tensor`` mode it is
    the student.

    Args:
        student (dict): the estimator, e.g. ``dict(type='DepthAnythingV2',
            encoder='vits', max_depth=20, checkpoint=...)``.
        loss (dict, optional): the main loss ``(pred, target, mask)``; None picks
            the default of the student's space (see above).
        loss_grad (dict, optional): a gradient loss on the relative target
            (disparity only); None: off (the one switch of the term).
        loss_weights (dict, optional): ``main`` and ``grad`` weights (default 1);
            a term is switched off by its loss config alone, never by a 0 weight.
        train_size (Sequence[int], optional): the (h, w) of the training crops
            (``RandomDepthCrop.size``), recorded for the config's name; the crop
            itself is the pipeline's.
        min_depth (float): ground-truth depths at or below this are ignored.
        max_depth (float, optional): depths above are ignored; None takes the
            student's ``max_depth`` (no bound for a relative student).
        data_preprocessor (dict, optional): None uses the student's own (ImageNet
            mean/std for DAv2).
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(
        self,
        student: dict,
        loss: Optional[dict] = None,
        loss_grad: Optional[dict] = None,
        loss_weights: Optional[dict] = None,
        train_size: Optional[Sequence[int]] = None,
        min_depth: float = 1e-3,
        max_depth: Optional[float] = None,
        data_preprocessor: Optional[Union[dict, torch.nn.Module]] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        model = MODELS.build(student)
        if data_preprocessor is None:
            data_preprocessor = model.data_preprocessor
        elif isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = model
        self.pred_space = getattr(model, 'pred_space', 'disparity')
        if loss is None:
            loss = (
                dict(type='SiLogLoss', variance_focus=0.5)
                if self.pred_space == 'depth'
                else dict(type='NormalizedL1Loss', normalization='global')
            )
        self.loss_main = MODELS.build(loss)
        self.loss_grad = MODELS.build(loss_grad) if loss_grad is not None else None
        if self.loss_grad is not None and self.pred_space == 'depth':
            raise ValueError(
                'SupervisedDepthEstimator: loss_grad works on the relative (disparity) '
                'target; a metric student trains with loss only (set loss_grad=None)'
            )
        self.loss_weights = {'main': 1.0, 'grad': 1.0, **(loss_weights or {})}
        unknown = set(self.loss_weights) - {'main', 'grad'}
        if unknown or any(w <= 0 for w in self.loss_weights.values()):
            raise ValueError(
                f'loss_weights takes positive main and grad weights, got {loss_weights}; '
                'switch a term off with its loss config (loss_grad=None)'
            )
        self.train_size = None if train_size is None else tuple(train_size)
        self.min_depth = float(min_depth)
        if max_depth is None:
            max_depth = getattr(model, 'max_depth', None)
        self.max_depth = None if max_depth is None else float(max_depth)

    def init_weights(self) -> None:
        """The student is initialized (and its checkpoint loaded) at construction."""

    def valid_mask(self, gt: torch.Tensor, data_samples: List[DepthDataSample]) -> torch.Tensor:
        """(B, 1, H, W) bool: the ground-truth pixels the loss uses."""
        valid = torch.isfinite(gt) & (gt > self.min_depth)
        if self.max_depth is not None:
            valid &= gt <= self.max_depth
        if all('gt_valid_mask' in s for s in data_samples):
            valid &= torch.stack([s.gt_valid_mask.data for s in data_samples]).to(valid)
        return valid

    def loss(
        self, inputs: torch.Tensor, data_samples: List[DepthDataSample]
    ) -> Dict[str, torch.Tensor]:
        """The supervised losses of a batch (``loss_silog`` or ``loss_ssi`` [+ grad])."""
        if not data_samples or any('gt_depth' not in s for s in data_samples):
            raise KeyError(
                'SupervisedDepthEstimator needs gt_depth in every sample: use a labeled '
                'dataset (DepthFolderDataset with depth maps, HypersimDataset, ...) and '
                'PackDepthInputs'
            )
        gt = torch.stack([s.gt_depth.data for s in data_samples]).to(inputs.device).float()
        pred = self.student(inputs, mode='tensor').float()
        if pred.shape[-2:] != gt.shape[-2:]:
            pred = F.interpolate(pred, gt.shape[-2:], mode='bilinear', align_corners=True)
        valid = self.valid_mask(gt, data_samples)
        losses = OrderedDict()
        if self.pred_space == 'depth':
            losses['loss_silog'] = self.loss_weights['main'] * self.loss_main(pred, gt, valid)
            return losses
        target = torch.where(valid, 1.0 / gt.clamp(min=self.min_depth), torch.zeros_like(gt))
        losses['loss_ssi'] = self.loss_weights['main'] * self.loss_main(pred, target, valid)
        if self.loss_grad is not None:
            losses['loss_grad'] = self.loss_weights['grad'] * self.loss_grad(pred, target, valid)
        return losses

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[DepthDataSample]] = None,
        mode: str = 'tensor',
    ):
        """MMEngine entry: ``loss`` trains; ``predict`` and ``tensor`` are the student's."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.student(inputs, data_samples, mode=mode)
