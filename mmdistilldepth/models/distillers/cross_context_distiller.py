"""Cross-context distillation (the paper's section 3.2) as an MMEngine model."""

from __future__ import annotations

import copy
import logging
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
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


def pad_to(image: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Pad (C, h, w) at the bottom and right to ``size`` by repeating the edge pixels.

    Edge padding makes a bilinear sample half a pixel past the image's edge read the
    edge, as it would on the unpadded image (``roi_align`` clamps there).
    """
    dh, dw = size[0] - image.shape[-2], size[1] - image.shape[-1]
    if dh == 0 and dw == 0:
        return image
    return F.pad(image[None].float(), (0, dw, 0, dh), mode='replicate')[0]


def valid_mask(shapes: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """(B, 1, H, W) True inside each image's top-left (h, w) of the (B, 2) ``shapes``."""
    shapes = shapes.long()
    ys = torch.arange(size[0], device=shapes.device)
    xs = torch.arange(size[1], device=shapes.device)
    inside = (ys[None, :, None] < shapes[:, 0, None, None]) & (
        xs[None, None, :] < shapes[:, 1, None, None]
    )
    return inside[:, None]


def clamp_to_valid(maps: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor:
    """Replace the padding of each map by its edge pixels (differentiable gather).

    A bilinear crop at an image's edge then samples as on the unpadded map, never
    the prediction in the padding.
    """
    b, c, h, w = maps.shape
    shapes = shapes.long()
    ys = torch.minimum(torch.arange(h, device=maps.device)[None], shapes[:, :1] - 1)  # (B, H)
    xs = torch.minimum(torch.arange(w, device=maps.device)[None], shapes[:, 1:] - 1)  # (B, W)
    maps = maps.gather(2, ys[:, None, :, None].expand(b, c, h, w))
    return maps.gather(3, xs[:, None, None, :].expand(b, c, h, w))


def box_mask(
    boxes: torch.Tensor, size: Tuple[int, int], valid: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """(B, 1, H, W) True at pixels whose centre lies in any of the (B, N, 4) boxes."""
    ys = torch.arange(size[0], device=boxes.device) + 0.5
    xs = torch.arange(size[1], device=boxes.device) + 0.5
    x1, y1, x2, y2 = (boxes[..., i, None, None] for i in range(4))  # (B, N, 1, 1)
    inside = (
        (xs[None, None, None, :] >= x1)
        & (xs[None, None, None, :] < x2)
        & (ys[None, None, :, None] >= y1)
        & (ys[None, None, :, None] < y2)
    )
    mask = inside.any(1, keepdim=True)
    return mask if valid is None else mask & valid


def _checkpoint_path(cfg: Optional[dict]) -> Optional[str]:
    path = (cfg or {}).get('checkpoint')
    return osp.normpath(osp.expanduser(path)) if isinstance(path, str) else None


def same_encoder_weights(
    student: dict,
    teacher: Optional[dict],
    feat_encoder: Optional[dict] = None,
    student_mean: Sequence[float] = IMAGENET_MEAN,
    student_std: Sequence[float] = IMAGENET_STD,
) -> bool:
    """Whether the teacher's encoder IS the frozen ``L_feat`` encoder, from the configs.

    True when: no ``feat_encoder`` is given (the target is the student's initial
    encoder); the teacher is a ``DepthAnythingTeacher`` running at the view size
    (``input_size`` None) whose model has the student's type and encoder
    architecture; the student's encoder and the teacher come from the same
    checkpoint file (same normalized path, not None; ``checkpoint_scope`` 'all' or
    'encoder' both load the encoder); and both normalize with the ImageNet mean/std.
    :meth:`CrossContextDistiller.init_weights` then checks the loaded tensors.
    """
    if feat_encoder is not None or not isinstance(teacher, dict) or not isinstance(student, dict):
        return False
    model = teacher.get('model') or {}
    if teacher.get('type') != 'DepthAnythingTeacher' or teacher.get('input_size') is not None:
        return False
    if model.get('type') != student.get('type') or model.get('encoder') != student.get('encoder'):
        return False
    path = _checkpoint_path(student)
    if path is None or path != (_checkpoint_path(teacher) or _checkpoint_path(model)):
        return False
    same_norm = list(student_mean) == list(IMAGENET_MEAN) and list(student_std) == list(
        IMAGENET_STD
    )
    return same_norm


def view_zoom(boxes: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """How many times larger a crop view shows the scene than the global view does.

    A crop ``box`` (x1, y1, x2, y2) given in pixels of the global view (the whole
    image as the student sees it: the metainfo boxes) and resized to ``size`` (h, w)
    magnifies the scene ``sqrt(h * w / (box_h * box_w))`` times with respect to the
    global view (the geometric mean of the two axes; equal for aspect-kept crops). A
    metric model sees a magnified crop as a closer scene: its depth shrinks by about
    that factor, which ``CrossContextDistiller(metric_zoom=True)`` multiplies back.

    Args:
        boxes (Tensor): (K, 4) boxes in global-view pixels.
        size (Sequence[int]): the (h, w) every crop view is resized to.

    Returns:
        Tensor: (K,) zoom factors (1 for a box of the view's own size).
    """
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return torch.sqrt(float(size[0]) * float(size[1]) / area.clamp(min=1e-6))


@MODELS.register_module()
class CrossContextDistiller(BaseModel):
    """Train a student depth model from a frozen teacher across contexts.

    Per iteration, for a batch of B images (RGB in [0, 1] at their original
    resolution, padded to the batch's largest by :class:`CrossContextDataPreprocessor`)
    with the boxes of :class:`CrossContextCrops` (metainfo ``ori_shape``,
    ``img_shape``, ``scale_factor``, ``shared_box``, ``local_boxes``; boxes in
    student-input pixels of the global view, ``box / scale_factor`` in original
    pixels):

    - the crops are cut on the device in ONE :func:`crop_resize` call from the
      original images: the shared crop ``V_s`` and the N local patches ``V_l,n``
      (560 original px: seen at 1:1), all at ``train_size`` (:meth:`_cut_crops`);
    - the global views ``V_g`` (each whole image at its ``img_shape``) in a second
      call, at the batch's largest ``img_shape``, each at the top left with a valid
      mask; every loss term leaves the padding out (:meth:`_cut_global`);
    - the teacher on ``[V_s; V_l,1..N]`` (one call) under ``torch.inference_mode()``
      and, on CUDA, bf16 autocast; the student on ``[V_s; V_g]`` (one call when they
      share a size, else one per size);
    - ``L_sc``: shared-context loss between the two predictions on ``V_s``;
    - ``L_lg``: local-global loss. Each teacher local prediction is compared with
      the matching region of the student's global prediction, cut at the local box
      (student px) and resized to ``train_size`` with the same :func:`crop_resize`,
      so both sample the same image points. Averaged over the B*N pairs, as in the
      paper's 1/N sum;
    - ``L_grad``: multi-scale gradient matching on the shared pair; when there is
      none (``loss_sc=None``, Table 1's local-global rows) on the local pairs;
    - ``L_feat``: feature alignment of the student's encoder features on its own
      views against a frozen copy of its initial encoder (or ``feat_encoder``); it
      never sees the teacher. With ``loss_sc=None`` only the tokens inside the local
      patches count.

    Total: ``L = w_sc L_sc + w_lg L_lg + w_feat L_feat + w_grad L_grad`` (paper:
    1, 0.5, 1.0, 2.0). Each term is logged on its own. The switches:
    ``shared_context=False`` makes the shared pair the whole image (the global view
    ``V_g`` for teacher and student: Table 2's baseline "with no random cropping");
    ``local_global=False`` cuts and predicts no local patch; ``loss_sc=None`` drops
    the shared pair, so the teacher sees the local patches only (Table 1's
    local-global rows).

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
        metric_zoom (bool | str): metric distillation (a metric teacher and
            student, a scale-aware loss such as ``SiLogLoss``;
            ``configs/metric_distill/``). A crop resized up looks closer to a metric
            model (depth / :func:`view_zoom`). ``True`` or ``'local'``: the
            teacher's depth on each local patch is multiplied by the patch's zoom
            before ``L_lg`` compares it with the student's global view (same image
            points, the global view's scale); ``L_sc`` (one view for both) is left
            as the teacher sees it. ``'all'``: the shared view's target is brought
            to the global view's scale too, so every target is the depth of the
            whole image as the teacher sees it (what the student predicts at test
            time). False (default): nothing (relative teachers: their normalized
            losses remove scale anyway).
        feat_source (str): where ``L_feat``'s targets come from. ``'copy'``: the
            frozen encoder (``feat_encoder`` or the copy) on every student view.
            ``'teacher'``: the teacher's encoder, whose weights must be the student's
            initial encoder (checked in :meth:`init_weights`): the targets of the
            views the teacher predicts anyway come from that same call
            (``predict_with_features``), the others from one ``teacher.encode`` call,
            and no copy is kept. ``'auto'`` (default): ``'teacher'`` when
            :func:`same_encoder_weights` says so from the configs, else ``'copy'``.
        student_mean, student_std: the student's input normalization.
        compile (bool | dict): run the student's forward (and so its backward) and
            every loss term under ``torch.compile`` (a dict: its keyword arguments,
            e.g. ``dict(mode='max-autotune')``). The teacher, the view cutting and the
            frozen encoder stay eager. Compiled in place of the instance's
            ``forward`` methods, so parameter names and checkpoints do not change.
        data_preprocessor (dict, optional): default ``CrossContextDataPreprocessor``
            without normalization (RGB in [0, 1], padded in training).
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
        feat_source: str = 'auto',
        metric_zoom: Union[bool, str] = False,
        student_mean: Sequence[float] = IMAGENET_MEAN,
        student_std: Sequence[float] = IMAGENET_STD,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
        compile: Union[bool, dict] = False,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='CrossContextDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = MODELS.build(student)
        self.train_size = tuple(int(s) for s in train_size)
        if metric_zoom not in (False, True, 'local', 'all', None):
            raise ValueError(
                f"metric_zoom must be False, True/'local' or 'all', got {metric_zoom!r}"
            )
        self.metric_zoom = 'local' if metric_zoom is True else (metric_zoom or False)
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
        if feat_source not in ('auto', 'copy', 'teacher'):
            raise ValueError(
                f"CrossContextDistiller: feat_source must be 'auto', 'copy' or 'teacher', "
                f'got {feat_source!r}'
            )
        if feat_source == 'auto':
            same = same_encoder_weights(student, teacher, feat_encoder, student_mean, student_std)
            feat_source = 'teacher' if same else 'copy'
        elif feat_source == 'teacher' and (teacher is None or feat_encoder is not None):
            raise ValueError(
                "CrossContextDistiller: feat_source='teacher' needs a teacher and no "
                "feat_encoder; use feat_source='copy'"
            )
        self.feat_source = feat_source
        # Set by DepthVisualizationHook for the iterations it draws: the first image's
        # views and predictions are then kept (detached) in ``visuals``; no extra calls.
        self.record_visuals = False
        self.visuals: Dict[str, torch.Tensor] = {}
        if teacher is not None:
            self._frozen['teacher'] = freeze(MODELS.build(teacher))
        self._refresh_feat_encoder()
        if compile:
            self._compile(dict(compile) if isinstance(compile, dict) else {})

    def _compile(self, kwargs: dict) -> None:
        """``torch.compile`` the student's forward and each loss term's (see ``compile``)."""
        self.student.forward_with_features = torch.compile(
            self.student.forward_with_features, **kwargs
        )
        for loss in (self.loss_sc, self.loss_lg, self.loss_grad, self.loss_feat):
            if loss is not None:
                loss.forward = torch.compile(loss.forward, **kwargs)

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
        if self.feat_source == 'teacher':
            if not getattr(self.teacher, 'provides_features', False):
                raise TypeError(
                    f"CrossContextDistiller: feat_source='teacher' but the teacher "
                    f'{type(self.teacher).__name__} does not return encoder features; '
                    "use feat_source='copy'"
                )
            return  # L_feat reads the teacher's encoder: no copy kept
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
        if self.feat_source == 'teacher' and self.loss_feat is not None:
            self._check_teacher_encoder()

    def _check_teacher_encoder(self) -> None:
        """``feat_source='teacher'``: the teacher's encoder must hold the student's
        initial encoder weights (skipped on the meta device, which holds no values).
        """
        student = self.student.backbone.state_dict()
        teacher = self.teacher.model.backbone.state_dict()
        if any(t.is_meta for t in student.values()):
            return
        differ = [
            k
            for k, v in student.items()
            if k not in teacher
            or teacher[k].shape != v.shape
            or not torch.equal(teacher[k].to(v), v)
        ]
        if differ or set(teacher) != set(student):
            raise ValueError(
                "CrossContextDistiller: feat_source='teacher' but the teacher's encoder "
                f"differs from the student's initial encoder ({(differ or ['keys'])[0]}, "
                f'{len(differ)} tensors): load both from the same checkpoint, or set '
                "model.feat_source='copy'"
            )

    def _apply(self, fn, *args, **kwargs):
        # .to(), .cuda(), .float() ... also move the frozen models.
        super()._apply(fn, *args, **kwargs)
        for name, module in self._frozen.items():
            if module is not None:
                self._frozen[name] = module._apply(fn, *args, **kwargs)
        return self

    def _frozen_follow(self, device: torch.device) -> None:
        """Move the frozen models to ``device`` if a wrapper moved only the registered
        parameters (FSDP moves parameters one by one, not through ``_apply``).
        """
        for name, module in self._frozen.items():
            tensor = next(module.parameters(), None) if module is not None else None
            if tensor is not None and tensor.device != device:
                self._frozen[name] = module.to(device)

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
        tokens (B, N, C), class token) pairs, the last being the deepest layer. With
        ``feat_source='teacher'`` the teacher's encoder (``teacher.encode``).
        """
        if self.feat_source == 'teacher':
            with torch.inference_mode():
                features = self.teacher.encode(images)
            return features.float().clone()
        patch = self.feat_encoder.patch_size
        h, w = images.shape[-2] // patch, images.shape[-1] // patch
        with torch.no_grad():
            tokens = self.feat_encoder(self._normalize(images))[-1][0]
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[-1], h, w)

    def _student(self, images: torch.Tensor, with_features: bool = False):
        """One student call on RGB views in [0, 1]."""
        disparity, features = self.student.forward_with_features(self._normalize(images))
        return (disparity, features) if with_features else disparity

    # ------------------------------------------------------------------ views
    @staticmethod
    def _read_boxes(data_samples: List[DepthDataSample], device) -> Dict[str, torch.Tensor]:
        """The metainfo boxes (student-input pixels) and the scale to original pixels.

        Returns ``scale`` (B, 4) ``(sw, sh, sw, sh)`` student px per original px,
        ``shape`` (B, 2) the global views' (h, w), ``ori`` (B, 2) the images' (H, W),
        ``shared`` (B, 4) and ``local`` (B, N, 4), all float32 on ``device``; and, as
        Python values, ``global_size`` (the largest (h, w)) and ``padded`` (whether a
        global view is smaller than that).
        """

        def meta(key):
            missing = [i for i, s in enumerate(data_samples) if key not in s.metainfo]
            if missing:
                raise KeyError(
                    f'CrossContextDistiller: samples {missing[:5]} have no {key!r} in their '
                    'metainfo: put CrossContextCrops in the training pipeline and '
                    f'{key!r} in PackDepthInputs(meta_keys=...)'
                )
            return [s.metainfo[key] for s in data_samples]

        shapes = [tuple(int(v) for v in hw) for hw in meta('img_shape')]
        ori = torch.tensor(meta('ori_shape'), dtype=torch.float32)  # (B, 2) H, W
        shape = torch.tensor(shapes, dtype=torch.float32)  # (B, 2) h, w
        if all('scale_factor' in s.metainfo for s in data_samples):
            sw_sh = torch.tensor(meta('scale_factor'), dtype=torch.float32)
        else:  # derivable from the two shapes
            sw_sh = shape.flip(1) / ori.flip(1)
        shared = torch.stack([torch.as_tensor(b, dtype=torch.float32) for b in meta('shared_box')])
        local = torch.stack(
            [torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4) for b in meta('local_boxes')]
        )
        boxes = {
            k: v.to(device)
            for k, v in dict(
                scale=sw_sh.repeat(1, 2), shape=shape, ori=ori, shared=shared, local=local
            ).items()
        }
        # sizes as Python ints, read from the metainfo (no device sync, also on 'meta')
        size = (max(h for h, _ in shapes), max(w for _, w in shapes))
        boxes['global_size'] = size
        boxes['padded'] = any(hw != size for hw in shapes)
        return boxes

    def _pixel_maps(self, inputs: torch.Tensor, data_samples: List[DepthDataSample]):
        """The original-resolution batch, with the true disparity as a 4th channel for
        a teacher that reads it (0 where invalid; padded like the images).
        """
        if not getattr(self.teacher, 'uses_gt_depth', False):
            return inputs
        missing = [i for i, s in enumerate(data_samples) if 'gt_depth' not in s]
        if missing:
            raise ValueError(
                f'the teacher {type(self.teacher).__name__} reads the true depth of '
                f'each view, but samples {missing[:5]} of the batch have no gt_depth: '
                'train it on a dataset that loads depth (e.g. SyntheticScenes)'
            )
        h, w = inputs.shape[-2:]
        depth = torch.stack(
            [pad_to(s.gt_depth.data.to(inputs), (h, w)) for s in data_samples]
        )  # (B, 1, H, W)
        disparity = torch.where(depth > 0, 1.0 / depth.clamp(min=1e-6), torch.zeros_like(depth))
        return torch.cat([inputs, disparity], dim=1)

    def _cut_crops(
        self, maps: torch.Tensor, boxes: Dict[str, torch.Tensor], shared: bool, local: bool
    ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """The shared crops (B) and local patches (B*N) at ``train_size``: ONE call.

        Cut from the original-resolution batch with the metainfo boxes divided by
        ``scale_factor`` (original pixels), so a 560 px patch is seen at 1:1.
        """
        b, n = boxes['local'].shape[:2]
        device = maps.device
        parts, index = [], []
        if shared:
            parts.append(boxes['shared'] / boxes['scale'])
            index.append(torch.arange(b, device=device))
        if local:
            if n == 0:
                raise ValueError(
                    'local-global distillation is on but the pipeline produced no '
                    'local patches: set CrossContextCrops(num_local=N>0)'
                )
            parts.append((boxes['local'] / boxes['scale'][:, None]).flatten(0, 1))
            index.append(torch.arange(b, device=device).repeat_interleave(n))
        if not parts:
            return None, None
        views = crop_resize(maps, torch.cat(parts), torch.cat(index), self.train_size)
        return (views[:b] if shared else None), (views[b:] if shared else views) if local else None

    @staticmethod
    def _cut_global(maps: torch.Tensor, boxes: Dict[str, torch.Tensor]):
        """Every image whole at its global-view size, in ONE call; padded and masked.

        The views of a batch may differ in size: each is cut at the top left of a
        canvas of the batch's largest (h, w) (its box reaches past the image into the
        padding, so that the image itself maps onto its own h x w pixels). Returns
        the views (B, C, Hg, Wg) and the valid mask (B, 1, Hg, Wg), or None for the
        mask when no view is padded.
        """
        shape = boxes['shape']
        hg, wg = boxes['global_size']
        ori = boxes['ori']
        zeros = torch.zeros_like(ori[:, 0])
        full = torch.stack(
            [zeros, zeros, ori[:, 1] * wg / shape[:, 1], ori[:, 0] * hg / shape[:, 0]], dim=1
        )
        index = torch.arange(len(shape), device=maps.device)
        views = crop_resize(maps, full, index, (hg, wg))
        return views, valid_mask(shape, (hg, wg)) if boxes['padded'] else None

    # ------------------------------------------------------------------ calls
    @staticmethod
    def _grouped(fn, views: List[torch.Tensor]) -> list:
        """``fn`` on the views stacked: one call when they share a size, else one each."""
        if len({tuple(v.shape[1:]) for v in views}) == 1:
            out = fn(torch.cat(views))
            counts = [len(v) for v in views]
            if isinstance(out, tuple):
                return list(
                    zip(*(o.split(counts) if o is not None else [None] * len(counts) for o in out))
                )
            return list(out.split(counts))
        return [fn(v) for v in views]

    def _teacher_predict(
        self,
        images: torch.Tensor,
        gt_depth: Optional[torch.Tensor] = None,
        with_features: bool = False,
        zoom: Optional[torch.Tensor] = None,
    ):
        """One teacher call on RGB views in [0, 1] (their true depth for a simulated one);
        with ``with_features`` also its encoder's last layer (``feat_source='teacher'``).
        """
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
            if with_features:
                pred = self.teacher.predict_with_features(images, gt_depth=gt_depth)
            elif zoom is not None:  # a teacher that simulates the crop-zoom flaw
                pred = self.teacher.predict(images, gt_depth=gt_depth, view_zoom=zoom)
            else:
                pred = self.teacher.predict(images, gt_depth=gt_depth)
        # inference tensors cannot be saved for backward: make a normal copy
        if with_features:
            return pred[0].float().clone(), pred[1].float().clone()
        return pred.float().clone()

    def _teacher_views(
        self,
        views: List[torch.Tensor],
        with_features: bool = False,
        zooms: Optional[List[torch.Tensor]] = None,
    ) -> list:
        """The teacher on views with 3 (RGB) or 4 (RGB + true disparity) channels.

        ``zooms`` (each view's :func:`view_zoom`) reach a teacher that reads them
        (``uses_view_zoom``, the metric ``SimulatedTeacher``); they ride along as one
        more constant channel, so that views of one size still make one call.
        """
        with_zoom = zooms is not None and getattr(self.teacher, 'uses_view_zoom', False)
        if with_zoom:
            views = [
                torch.cat([v, z.to(v).view(-1, 1, 1, 1).expand(-1, 1, *v.shape[-2:])], 1)
                for v, z in zip(views, zooms)
            ]

        def call(v):
            zoom = None
            if with_zoom:
                v, zoom = v[:, :-1], v[:, -1, 0, 0]
            depth = None
            if v.shape[1] == 4:
                disp = v[:, 3:]
                depth = torch.where(disp > 0, 1.0 / disp.clamp(min=1e-6), torch.zeros_like(disp))
            return self._teacher_predict(v[:, :3], depth, with_features=with_features, zoom=zoom)

        return self._grouped(call, views)

    def _view_zooms(self, views: dict) -> Tuple[torch.Tensor, torch.Tensor]:
        """:func:`view_zoom` of the shared pair's view (B) and the local patches (B*N)."""
        boxes = views['boxes']
        if views['crop_shared']:
            shared = view_zoom(boxes['shared'], self.train_size)
        else:  # the global view itself
            shared = torch.ones(len(boxes['shared']), device=boxes['shared'].device)
        return shared, view_zoom(boxes['local'].flatten(0, 1), self.train_size)

    # ------------------------------------------------------------------ losses
    def _loss_feat(self, students: list, masks: list, known: Optional[list] = None) -> torch.Tensor:
        """``L_feat`` per student call, averaged over the calls (tokens masked).

        ``known``: per call, targets already computed (the teacher's features of the
        same views) or None to run the frozen encoder on that call's views.
        """
        terms = []
        known = known or [None] * len(students)
        for (views, _, feat), mask, target in zip(students, masks, known):
            if target is None:
                target = self._frozen_features(views)
            elif target.shape != feat.shape:
                raise ValueError(
                    f'CrossContextDistiller: the teacher features {tuple(target.shape)} do '
                    f"not match the student's {tuple(feat.shape)} (did the teacher resize "
                    "the views?); set model.feat_source='copy'"
                )
            if mask is not None:
                mask = F.interpolate(mask.float(), size=feat.shape[-2:], mode='area') > 0.999
            terms.append(self.loss_feat(feat, target, mask))
        return sum(terms) / len(terms)

    # ------------------------------------------------------------------ modes
    def _views(self, inputs: torch.Tensor, data_samples: List[DepthDataSample]) -> dict:
        """Every view this iteration needs, cut on the device (see the class docstring).

        Returns a dict: ``boxes`` (:meth:`_read_boxes`), ``crop_shared`` (the shared
        pair is the random crop, else the global view), ``shared`` (B, C, h, w) or
        None, ``local`` (B*N, C, h, w) or None, ``global`` (B, C, Hg, Wg) or None and
        ``valid`` (its mask, None when nothing is padded). C is 4 (RGB + true
        disparity) for a teacher that reads the true depth.
        """
        boxes = self._read_boxes(data_samples, inputs.device)
        maps = self._pixel_maps(inputs, data_samples)
        sc_on, lg_on = self.loss_sc is not None, self.loss_lg is not None
        crop_shared = sc_on and self.shared_context  # else the shared pair is V_g
        shared, local = self._cut_crops(maps, boxes, crop_shared, lg_on)
        whole = valid = None
        if lg_on or (sc_on and not crop_shared):
            whole, valid = self._cut_global(maps, boxes)
        return {
            'boxes': boxes,
            'crop_shared': crop_shared,
            'shared': shared,
            'local': local,
            'global': whole,
            'valid': valid,
        }

    def _teacher_step(self, views: dict):
        """The teacher on [shared pair's view; V_l,1..N]: (t_shared, t_local, finite).

        With ``feat_source='teacher'`` the same call also gives the encoder features
        of the shared pair's view, kept in ``views['teacher_features']`` for ``L_feat``.
        """
        sc_on, lg_on = self.loss_sc is not None, self.loss_lg is not None
        shared_view = views['shared'] if views['crop_shared'] else views['global']
        given = ([shared_view] if sc_on else []) + ([views['local']] if lg_on else [])
        reuse = sc_on and self.loss_feat is not None and self.feat_source == 'teacher'
        z_shared, z_local = self._view_zooms(views)
        zooms = ([z_shared] if sc_on else []) + ([z_local] if lg_on else [])
        out = self._teacher_views(given, with_features=reuse, zooms=zooms)
        if reuse:
            views['teacher_features'] = out[0][1]  # the shared pair's view only
            out = [o[0] for o in out]
        finite = all(self._teacher_output_finite(t) for t in out)
        t_shared = out[0] if sc_on else None
        t_local = out[-1] if lg_on else None
        if self.metric_zoom and lg_on:  # crop zoom: back to the global view's scale
            t_local = t_local * z_local.view(-1, 1, 1, 1)
        if self.metric_zoom == 'all' and sc_on:
            t_shared = t_shared * z_shared.view(-1, 1, 1, 1)
        return t_shared, t_local, finite

    def _student_step(self, views: dict) -> dict:
        """The student on [V_s; V_g] (V_g once when it is the shared view).

        Returns ``calls`` (a list of (views, disparity, features), one per student call
        or view kind), ``shared`` and ``global`` (its predictions; the global one with
        its padding replaced by its edge pixels).
        """
        given = ([views['shared'][:, :3]] if views['crop_shared'] else []) + (
            [views['global'][:, :3]] if views['global'] is not None else []
        )
        out = self._grouped(lambda v: self._student(v, with_features=True), given)
        calls = [(v, *o) for v, o in zip(given, out)]
        s_global = None
        if views['global'] is not None:
            s_global = calls[-1][1]
            if views['valid'] is not None:
                s_global = clamp_to_valid(s_global, views['boxes']['shape'])
        s_shared = calls[0][1] if views['crop_shared'] else s_global
        return {'calls': calls, 'shared': s_shared, 'global': s_global}

    def _student_local_crops(self, s_global: torch.Tensor, views: dict) -> torch.Tensor:
        """The student's global prediction cut at the local boxes, at ``train_size``."""
        local = views['boxes']['local']
        b, n = local.shape[:2]
        scale = s_global.shape[-1] / views['global'].shape[-1]  # prediction px per input px
        index = torch.arange(b, device=s_global.device).repeat_interleave(n)
        return crop_resize(s_global, local.flatten(0, 1) * scale, index, self.train_size)

    def loss(
        self, inputs: torch.Tensor, data_samples: List[DepthDataSample]
    ) -> Dict[str, torch.Tensor]:
        """The four terms of one iteration (section 3.2); see the class docstring."""
        self._frozen_follow(inputs.device)
        views = self._views(inputs, data_samples)
        t_shared, t_local, teacher_finite = self._teacher_step(views)
        student = self._student_step(views)
        sc_on, lg_on = self.loss_sc is not None, self.loss_lg is not None
        s_shared = student['shared']
        shared_mask = None if views['crop_shared'] else views['valid']
        s_crops = self._student_local_crops(student['global'], views) if lg_on else None

        losses = {}
        w = self.loss_weights
        if sc_on:
            losses['loss_sc'] = w['sc'] * self.loss_sc(s_shared, t_shared, shared_mask)
        if lg_on:
            # mean over all B*N pairs == the paper's 1/N sum per image, averaged over images
            losses['loss_lg'] = w['lg'] * self.loss_lg(s_crops, t_local)
        if self.loss_grad is not None:
            # on the shared pair; without one (Table 1 local-global rows) on the local pairs
            pair = (s_shared, t_shared, shared_mask) if sc_on else (s_crops, t_local, None)
            losses['loss_grad'] = w['grad'] * self.loss_grad(*pair)
        if self.loss_feat is not None:
            calls = student['calls']
            known = [None] * len(calls)
            if 'teacher_features' in views:  # the shared pair's view: first student call
                known[0 if views['crop_shared'] else -1] = views['teacher_features']
            losses['loss_feat'] = w['feat'] * self._loss_feat(
                calls, self._feat_masks(views, len(calls)), known
            )
        if self.record_visuals:
            shared_view = views['shared'] if views['crop_shared'] else views['global']
            self._record(
                (shared_view, t_shared, s_shared) if sc_on else None,
                (views['local'], t_local, s_crops) if lg_on else None,
            )
        if not teacher_finite:
            # Skip the update even where a loss would mask the bad pixels out: every
            # term becomes NaN, and the SkipNonFinite* / Autocast optimizer wrappers skip
            # a non-finite loss. The student still ran: DDP ranks must stay in step.
            losses = {name: value * float('nan') for name, value in losses.items()}
        return losses

    def _feat_masks(self, views: dict, num_calls: int) -> list:
        """Per student call, the pixels whose tokens ``L_feat`` counts (None: all)."""
        masks = [None] * num_calls
        if views['global'] is not None:
            masks[-1] = views['valid']
            if self.loss_sc is None:  # local-global only: the local patches' tokens only
                size = views['global'].shape[-2:]
                masks[-1] = box_mask(views['boxes']['local'], size, views['valid'])
        return masks

    def _record(self, shared, local) -> None:
        """Keep the first image's views and predictions for DepthVisualizationHook.

        ``shared`` / ``local``: (views, teacher, student) of the pairs, or None. The
        hook draws the shared pair, so nothing is kept without one (Table 1's
        local-global rows).
        """
        visuals = {}
        for name, pair in (('shared', shared), ('local', local)):
            if pair is not None:
                views, teacher, student = (x[0] for x in pair)
                visuals.update(
                    {
                        f'{name}_rgb': views[:3],
                        f'{name}_teacher': teacher,
                        f'{name}_student': student,
                    }
                )
        if shared is None:
            visuals = {}
        self.visuals = {k: v.detach().float().cpu() for k, v in visuals.items()}

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
