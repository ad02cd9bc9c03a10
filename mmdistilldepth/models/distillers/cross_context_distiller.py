"""Cross-context distillation (the paper's section 3.2) as an MMEngine model."""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import nn
from torchvision.ops import roi_align

from mmdistilldepth.registry import MODELS
from mmdistilldepth.structures import DepthDataSample
from mmdistilldepth.utils.constants import IMAGENET_MEAN, IMAGENET_STD

from ..utils import freeze


def crop_resize(
    maps: torch.Tensor, boxes: torch.Tensor, batch_index: torch.Tensor, size: Tuple[int, int]
) -> torch.Tensor:
    """Cut boxes out of a batch of maps and resize them, all in one call.

    Uses ``roi_align`` with ``aligned=True``: a box (x1, y1, x2, y2) in pixel-edge
    coordinates is sampled on a regular grid of ``size`` bin centres, each bin the
    average of bilinear samples (adaptive count), so downscaling is anti-aliased and
    upscaling is bilinear. The distiller uses this one function for every view of
    the input and for cutting the student's prediction, so a pixel of a teacher view
    and the pixel of the student map compared with it sample the same image point.

    Args:
        maps (Tensor): (B, C, H, W).
        boxes (Tensor): (K, 4) boxes in pixels of ``maps``.
        batch_index (Tensor): (K,) which map each box is cut from.
        size (tuple): output (h, w).

    Returns:
        Tensor: (K, C, h, w).
    """
    rois = torch.cat([batch_index.to(boxes)[:, None], boxes], dim=1)
    return roi_align(
        maps,
        rois.to(maps.dtype),
        output_size=size,
        spatial_scale=1.0,
        sampling_ratio=-1,
        aligned=True,
    )


def view_zoom(boxes: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """How many times larger a crop view shows the scene than the global view does.

    A crop ``box`` (x1, y1, x2, y2) given in pixels of the global view (the whole
    image as the student sees it) and resized to ``size`` (h, w) magnifies the scene
    ``sqrt(h * w / (box_h * box_w))`` times with respect to the global view (the
    geometric mean of the two axes; they agree for aspect-kept crops). A metric
    model sees a magnified crop as a closer scene: its depth shrinks by about that
    factor, which ``CrossContextDistiller(metric_zoom=True)`` multiplies back.

    Args:
        boxes (Tensor): (K, 4) boxes in global-view pixels.
        size (Sequence[int]): the (h, w) every crop view is resized to.

    Returns:
        Tensor: (K,) zoom factors (1 for a box covering the whole global view).
    """
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return torch.sqrt(float(size[0]) * float(size[1]) / area.clamp(min=1e-6))


@MODELS.register_module()
class CrossContextDistiller(BaseModel):
    """Train a student depth model from a frozen teacher across contexts.

    Per iteration, for a batch of B images (RGB in [0, 1] from the data
    preprocessor) with boxes from :class:`CrossContextCrops`:

    - views are cut on the device in ONE :func:`crop_resize` call: the shared crop
      ``V_s``, the global view ``V_g`` (the whole image) and N local crops
      ``V_l,n`` of the global view, all at ``train_size``;
    - ONE teacher call on all teacher views stacked, ``[V_s; V_l,1..N]``, under
      ``torch.inference_mode()`` and, on CUDA, bf16 autocast;
    - ONE student call on all student views stacked, ``[V_s; V_g]``;
    - ``L_sc``: shared-context loss between the two predictions on ``V_s``;
    - ``L_lg``: local-global loss. Each teacher local prediction is compared with
      the matching region of the student's global prediction, cut out and resized
      to the teacher view's size with the same :func:`crop_resize` (box scaled from
      image to prediction pixels) that cut the teacher's input, so both sample the
      same image points. Averaged over the N crops, as in the paper;
    - ``L_feat``: feature alignment of the student's encoder features on its views
      against a frozen copy of its initial encoder (or ``feat_encoder``);
    - ``L_grad``: multi-scale gradient matching on the shared-context pair.

    Total: ``L = w_sc L_sc + w_lg L_lg + w_feat L_feat + w_grad L_grad`` (paper:
    1, 0.5, 1.0, 2.0). Each term is logged on its own. With ``shared_context=False``
    the shared view is the whole image (the paper's baseline without random crops),
    with ``local_global=False`` no local crops are cut or predicted.

    An iteration whose teacher output or loss is not finite does not update the
    student: the loss is then NaN, the ``SkipNonFinite*`` optimizer wrappers (and
    ``AutocastOptimWrapper``) skip the update and count it (``nonfinite_skipped``),
    and the non-finite terms are left out of the log (:meth:`parse_losses`).

    The teacher is frozen forever and kept out of the module tree: it is not in
    ``state_dict()`` (so not in checkpoints), not in ``parameters()`` (so not in the
    optimizer, nor in DDP). It follows the distiller across devices. A resumed run
    rebuilds it from its own config and checkpoint.

    Args:
        student (dict): config of the student (e.g. ``DepthAnythingV2``); it must
            offer ``forward_with_features(x) -> (disparity, feature map)`` and a
            ``backbone`` returning (patch tokens, class token) pairs per layer.
        teacher (dict, optional): config of the teacher; None for evaluation only.
        train_size (Sequence[int]): (h, w) of every training view.
        shared_context (bool): cut a random shared crop (else the whole image).
        local_global (bool): use the local crops and ``L_lg``.
        loss_sc, loss_lg, loss_grad, loss_feat (dict, optional): loss configs; a
            term is off when its config is None or its weight is 0.
        loss_weights (dict): weights of ``sc``, ``lg``, ``feat``, ``grad``.
        feat_encoder (dict, optional): config of the frozen encoder for
            ``L_feat``; default a frozen copy of the student's initial encoder.
        metric_zoom (bool): metric distillation (a metric teacher and student, a
            scale-aware loss such as ``SiLogLoss``): multiply the teacher's depth
            on each local crop by the crop's :func:`view_zoom` before ``L_lg``
            compares it with the student's global view, so that a crop resized up
            (which a metric model sees as closer) teaches the global view's scale.
            ``L_sc`` compares teacher and student on the same view and is unchanged.
            Off (default) for relative teachers, whose losses normalize scale away.
        student_mean, student_std: the student's input normalization.
        data_preprocessor (dict, optional): default ``DepthDataPreprocessor``
            without normalization (RGB in [0, 1]).
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(
        self,
        student: dict,
        teacher: Optional[dict] = None,
        train_size: Sequence[int] = (560, 560),
        shared_context: bool = True,
        local_global: bool = True,
        loss_sc: Optional[dict] = None,
        loss_lg: Optional[dict] = None,
        loss_grad: Optional[dict] = None,
        loss_feat: Optional[dict] = None,
        loss_weights: Optional[Dict[str, float]] = None,
        feat_encoder: Optional[dict] = None,
        metric_zoom: bool = False,
        student_mean: Sequence[float] = IMAGENET_MEAN,
        student_std: Sequence[float] = IMAGENET_STD,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='DepthDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = MODELS.build(student)
        self.train_size = tuple(int(s) for s in train_size)
        self.metric_zoom = bool(metric_zoom)
        self.shared_context = shared_context
        self.local_global = local_global
        weights = dict(sc=1.0, lg=0.5, feat=1.0, grad=2.0)
        weights.update(loss_weights or {})
        unknown = set(weights) - {'sc', 'lg', 'feat', 'grad'}
        if unknown:
            raise ValueError(
                f'CrossContextDistiller: unknown loss_weights keys {sorted(unknown)}; '
                "use 'sc', 'lg', 'feat', 'grad'"
            )
        self.loss_weights = weights
        self.loss_sc = self._build_loss(loss_sc, 'sc')
        self.loss_lg = self._build_loss(loss_lg, 'lg') if local_global else None
        self.loss_grad = self._build_loss(loss_grad, 'grad')
        self.loss_feat = self._build_loss(loss_feat, 'feat')
        if self.loss_sc is None and self.loss_lg is None:
            raise ValueError(
                'CrossContextDistiller: both the shared-context loss (loss_sc) and '
                'the local-global loss (loss_lg) are off; nothing to distill'
            )
        self.register_buffer(
            'student_mean', torch.tensor(student_mean).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            'student_std', torch.tensor(student_std).view(1, 3, 1, 1), persistent=False
        )
        # Frozen models live outside the module tree (see the class docstring).
        self._frozen: Dict[str, Optional[nn.Module]] = dict(teacher=None, feat_encoder=None)
        self._feat_encoder_cfg = feat_encoder
        # Set by DepthVisualizationHook for the iterations it draws: the first image's
        # views and predictions are then kept (detached) in ``visuals``; no extra calls.
        self.record_visuals = False
        self.visuals: Dict[str, torch.Tensor] = {}
        if teacher is not None:
            self._frozen['teacher'] = freeze(MODELS.build(teacher))
        self._refresh_feat_encoder()

    # ------------------------------------------------------------------ set-up
    def _build_loss(self, cfg: Optional[dict], name: str) -> Optional[nn.Module]:
        if cfg is None or self.loss_weights[name] == 0:
            return None
        return MODELS.build(cfg)

    @property
    def teacher(self) -> Optional[nn.Module]:
        """The frozen teacher (None when built for evaluation only)."""
        return self._frozen['teacher']

    @property
    def feat_encoder(self) -> Optional[nn.Module]:
        """The frozen encoder that ``L_feat`` aligns the student's features to."""
        return self._frozen['feat_encoder']

    def _refresh_feat_encoder(self) -> None:
        if self.loss_feat is None:
            return
        if self._feat_encoder_cfg is not None:
            encoder = MODELS.build(self._feat_encoder_cfg)
        else:
            encoder = copy.deepcopy(self.student.backbone)
        device = self.student_mean.device
        self._frozen['feat_encoder'] = freeze(encoder).to(device)

    def init_weights(self) -> None:
        """Initialize the student, then copy its (initial) encoder for ``L_feat``.

        The runner calls this before loading or resuming a checkpoint, so the frozen
        copy always holds the student's initial weights, also in a resumed run.
        """
        super().init_weights()
        if self._feat_encoder_cfg is None:
            self._refresh_feat_encoder()

    def _apply(self, fn, *args, **kwargs):
        # .to(), .cuda(), .float() ... also move the frozen models.
        super()._apply(fn, *args, **kwargs)
        for name, module in self._frozen.items():
            if module is not None:
                self._frozen[name] = module._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True) -> 'CrossContextDistiller':
        super().train(mode)
        for module in self._frozen.values():
            if module is not None:
                module.eval()  # frozen models stay in eval mode
        return self

    # ------------------------------------------------------------------ helpers
    def _normalize(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.student_mean) / self.student_std

    def _frozen_features(self, images: torch.Tensor) -> torch.Tensor:
        """The frozen encoder's last layer on RGB views in [0, 1], as (B, C, h, w).

        The encoder follows the backbone convention: it returns a list of (patch
        tokens (B, N, C), class token) pairs, the last being the deepest layer.
        """
        patch = self.feat_encoder.patch_size
        h, w = images.shape[-2] // patch, images.shape[-1] // patch
        with torch.no_grad():
            tokens = self.feat_encoder(self._normalize(images))[-1][0]
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[-1], h, w)

    def _student(self, images: torch.Tensor, with_features: bool = False):
        """One student call on RGB views in [0, 1]."""
        disparity, features = self.student.forward_with_features(self._normalize(images))
        return (disparity, features) if with_features else disparity

    def _cut_views(self, inputs: torch.Tensor, data_samples: List[DepthDataSample]):
        """Cut every view of the batch in one call. Returns the views and the boxes."""
        b, _, h, w = inputs.shape
        device = inputs.device
        full = torch.tensor([0, 0, w, h], dtype=torch.float32, device=device).expand(b, 4)
        if self.shared_context:
            shared = torch.stack(
                [
                    torch.as_tensor(s.metainfo['shared_box'], dtype=torch.float32)
                    for s in data_samples
                ]
            ).to(device)
        else:
            shared = full
        boxes = [shared, full]
        index = [torch.arange(b, device=device)] * 2
        local = None
        if self.loss_lg is not None:
            local = torch.stack(
                [
                    torch.as_tensor(s.metainfo['local_boxes'], dtype=torch.float32)
                    for s in data_samples
                ]
            ).to(device)  # (B, N, 4)
            if local.shape[1] == 0:
                raise ValueError(
                    'local-global distillation is on but the pipeline produced no '
                    'local crops: set CrossContextCrops(num_local=N>0)'
                )
            boxes.append(local.flatten(0, 1))
            index.append(torch.arange(b, device=device).repeat_interleave(local.shape[1]))
        maps = inputs
        if getattr(self.teacher, 'uses_gt_depth', False):
            # A teacher that reads the true depth gets it cut with the same boxes (as
            # disparity, 0 where invalid, which averages sensibly when resized).
            missing = [i for i, s in enumerate(data_samples) if 'gt_depth' not in s]
            if missing:
                raise ValueError(
                    f'the teacher {type(self.teacher).__name__} reads the true depth of '
                    f'each view, but samples {missing[:5]} of the batch have no gt_depth: '
                    'train it on a dataset that loads depth (e.g. SyntheticScenes)'
                )
            depth = torch.stack([s.gt_depth.data for s in data_samples]).to(inputs)
            disparity = torch.where(depth > 0, 1.0 / depth.clamp(min=1e-6), torch.zeros_like(depth))
            maps = torch.cat([inputs, disparity], dim=1)
        views = crop_resize(maps, torch.cat(boxes), torch.cat(index), self.train_size)
        rgb = views[:, :3]
        gt_depth = None
        if views.shape[1] == 4:
            disp = views[:, 3:]
            gt_depth = torch.where(disp > 0, 1.0 / disp.clamp(min=1e-6), torch.zeros_like(disp))
        return rgb, gt_depth, local

    def _teacher_predict(
        self,
        images: torch.Tensor,
        gt_depth: Optional[torch.Tensor],
        zoom: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        if self.teacher is None:
            raise RuntimeError(
                'this CrossContextDistiller was built without a teacher '
                '(evaluation only); give model.teacher to train'
            )
        use_amp = images.device.type == 'cuda'
        with (
            torch.inference_mode(),
            torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=use_amp),
        ):
            if zoom is not None and getattr(self.teacher, 'uses_view_zoom', False):
                pred = self.teacher.predict(images, gt_depth=gt_depth, view_zoom=zoom)
            else:
                pred = self.teacher.predict(images, gt_depth=gt_depth)
        # inference tensors cannot be saved for backward: make a normal copy
        return pred.float().clone()

    # ------------------------------------------------------------------ modes
    def loss(
        self, inputs: torch.Tensor, data_samples: List[DepthDataSample]
    ) -> Dict[str, torch.Tensor]:
        b = inputs.shape[0]
        views, gt_depth, local = self._cut_views(inputs, data_samples)
        v_shared, v_global = views[:b], views[b : 2 * b]
        v_local = views[2 * b :]

        # ONE teacher call on [V_s; V_l]
        teacher_views = torch.cat([v_shared, v_local]) if self.loss_lg is not None else v_shared
        teacher_depth = None
        if gt_depth is not None:
            teacher_depth = (
                torch.cat([gt_depth[:b], gt_depth[2 * b :]])
                if self.loss_lg is not None
                else gt_depth[:b]
            )
        # the magnification of each teacher view w.r.t. the global view (student px)
        to_global = torch.tensor(
            [self.train_size[1] / inputs.shape[-1], self.train_size[0] / inputs.shape[-2]] * 2,
            device=inputs.device,
        )
        shared_box = (
            torch.stack([torch.as_tensor(s.metainfo['shared_box']) for s in data_samples])
            if self.shared_context
            else torch.tensor([[0, 0, inputs.shape[-1], inputs.shape[-2]]]).expand(b, 4)
        ).to(to_global)
        zoom = view_zoom(shared_box * to_global, self.train_size)
        if self.loss_lg is not None:
            zoom = torch.cat([zoom, view_zoom(local.flatten(0, 1) * to_global, self.train_size)])
        t_pred = self._teacher_predict(teacher_views, teacher_depth, zoom)
        teacher_finite = self._teacher_output_finite(t_pred)
        t_shared, t_local = t_pred[:b], t_pred[b:]
        if self.metric_zoom and self.loss_lg is not None:
            t_local = t_local * zoom[b:, None, None, None]  # crop-zoom: back to V_g's scale

        # ONE student call on [V_s; V_g] (just V_g when the shared view is the whole image)
        student_views = torch.cat([v_shared, v_global]) if self.shared_context else v_global
        s_pred, s_feat = self._student(student_views, with_features=True)
        s_shared = s_pred[:b]
        s_global = s_pred[b:] if self.shared_context else s_pred

        losses = {}
        w = self.loss_weights
        if self.loss_sc is not None:
            losses['loss_sc'] = w['sc'] * self.loss_sc(s_shared, t_shared)
        if self.loss_lg is not None:
            n = local.shape[1]
            th, tw = self.train_size
            scale = torch.tensor(
                [tw / inputs.shape[-1], th / inputs.shape[-2]] * 2, device=inputs.device
            )
            s_crops = crop_resize(
                s_global,
                local.flatten(0, 1) * scale,
                torch.arange(b, device=inputs.device).repeat_interleave(n),
                self.train_size,
            )
            # mean over all B*N pairs == the paper's 1/N sum per image, averaged over images
            losses['loss_lg'] = w['lg'] * self.loss_lg(s_crops, t_local)
        if self.loss_grad is not None:
            losses['loss_grad'] = w['grad'] * self.loss_grad(s_shared, t_shared)
        if self.loss_feat is not None:
            losses['loss_feat'] = w['feat'] * self.loss_feat(
                s_feat, self._frozen_features(student_views)
            )
        if self.record_visuals:
            self.visuals = dict(
                shared_rgb=v_shared[0], shared_teacher=t_shared[0], shared_student=s_shared[0]
            )
            if self.loss_lg is not None:
                self.visuals.update(
                    local_rgb=v_local[0], local_teacher=t_local[0], local_student=s_crops[0]
                )
            self.visuals = {k: v.detach().float().cpu() for k, v in self.visuals.items()}
        if not teacher_finite:
            # Skip the update even where a loss would mask the bad pixels out: every
            # term becomes NaN, and the SkipNonFinite* / Autocast optimizer wrappers skip
            # a non-finite loss. The student still ran: DDP ranks must stay in step.
            losses = {name: value * float('nan') for name, value in losses.items()}
        return losses

    @staticmethod
    def _teacher_output_finite(pred: torch.Tensor) -> bool:
        """Whether the teacher's prediction is finite; warns with the count if not."""
        bad = int((~torch.isfinite(pred)).sum())
        if bad:
            print_log(
                f'the teacher output has {bad} non-finite values (of {pred.numel()}): '
                'this iteration will not update the student',
                logger='current',
                level=logging.WARNING,
            )
        return bad == 0

    def parse_losses(
        self, losses: Dict[str, torch.Tensor]
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """``BaseModel.parse_losses``, leaving non-finite terms out of the log.

        The total loss is returned as it is: a non-finite one makes the optimizer
        wrapper (``SkipNonFiniteOptimWrapper``, ``AutocastOptimWrapper``) skip the
        update and count it in ``nonfinite_skipped``. Logged, a NaN would turn the
        smoothed log values NaN for a whole window.
        """
        loss, log_vars = super().parse_losses(losses)
        bad = {
            name: float(value.detach())
            for name, value in log_vars.items()
            if not bool(torch.isfinite(value).all())
        }
        if bad:
            print_log(
                f'non-finite loss terms {bad}: left out of the log',
                logger='current',
                level=logging.WARNING,
            )
            log_vars = OrderedDict((k, v) for k, v in log_vars.items() if k not in bad)
        return loss, log_vars

    def predict(
        self, inputs: torch.Tensor, data_samples: Optional[List[DepthDataSample]] = None
    ) -> List[DepthDataSample]:
        """The student's disparity (1, h, w) at the input resolution, per image
        (metric depth for a metric student; ``pred_space`` in the metainfo says which).
        """
        disparity = self._student(inputs)
        if data_samples is None:
            data_samples = [DepthDataSample() for _ in range(len(inputs))]
        pred_space = getattr(self.student, 'pred_space', 'disparity')
        for sample, pred in zip(data_samples, disparity):
            sample.pred_depth = PixelData(data=pred)
            sample.set_metainfo(dict(pred_space=pred_space))
        return data_samples

    def _forward(self, inputs: torch.Tensor, data_samples=None) -> torch.Tensor:
        return self._student(inputs)

    def forward(
        self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'
    ) -> Union[Dict[str, torch.Tensor], list, torch.Tensor]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise ValueError(
            f"CrossContextDistiller: unknown mode {mode!r}; use 'loss', 'predict' or 'tensor'"
        )
