"""FLOPs and memory of one training iteration of a config, on any device.

    python tools/analysis/benchmark_train_step.py CONFIG [--device meta|cpu|cuda]
        [--batch-size B] [--json FILE] [--amp {none,bf16}] [--[no-]grad-checkpoint]
        [--[no-]sdpa] [--teacher-micro-batch N] [--iters N] [--cfg-options KEY=VALUE ...]

The memory levers are the config's own switches (:func:`config_levers`): bf16 autocast
(``optim_wrapper.type='AutocastOptimWrapper'``), activation checkpointing
(``model.student.with_cp``), fused SDPA (``fused_attn`` of every ``DepthAnythingV2``),
teacher micro-batches (``model.teacher.max_batch``); the four flags override them.

Builds the config's model (the distiller with its teacher, student, losses and the
frozen ``L_feat`` encoder) and its optimizer wrapper (``build_optim_wrapper``), makes a
batch of the shapes the config's train pipeline produces (a rendering dataset such as
``SyntheticScenes`` is sampled; an image-file dataset such as ``UnlabeledImageDataset``
gets synthetic images of ``--image-size``, SA-1B's 1500x2250 by default), and runs ONE
complete training iteration through ``model.train_step`` (data preprocessing, the
teacher call, the student forward, the losses, the backward, the optimizer step).

Reported (printed, and with ``--json`` written as JSON):

* ``flops_per_iter`` (``torch.utils.flop_counter.FlopCounterMode``) and
  ``flops_breakdown``: teacher, student_forward, frozen_encoder, losses,
  student_backward (everything autograd runs, with checkpoint recomputation),
  optimizer, preprocess and other (view cutting);
* ``peak_memory_gib``: on ``cuda`` the allocator's peak
  (``torch.cuda.max_memory_allocated``) of a steady-state iteration; on ``meta`` and
  ``cpu`` a simulation of the same quantity: every storage an op creates is counted
  from its allocation until it is freed (weak references on the storages), on top
  of the parameters, buffers and the AdamW state, so tensors saved for backward,
  gradients and transients are all included as the code really holds them. On
  ``meta`` the GPU path is emulated: fused SDPA saves q, k, v, out and logsumexp
  (the meta device would run the math path and save the (B, h, N, N) attention
  matrix), and autocast (bf16 lever on, and always for the teacher, which runs
  under bf16 autocast on CUDA) casts as CUDA's autocast does. The assumptions are
  listed in the JSON (``assumptions``) and in docs/performance.md;
* ``fits_gib``: the largest batch for 16, 24, 32, 40 and 80 GiB GPUs, from a
  straight line through the peaks at two batch sizes;
* on ``cuda``: step time, images/s and MFU against the device's peak.

On ``meta`` nothing is computed and no checkpoint is read (checkpoint fields are set
to None unless ``--load-checkpoints``): DAv2-L at batch 8 takes well under a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import gc
import json
import math
import os
import os.path as osp
import sys
import time
import weakref
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

GIB = 1024**3
GPU_SIZES_GIB = (16, 24, 32, 40, 80)
PHASES = (
    'preprocess',
    'teacher',
    'student_forward',
    'frozen_encoder',
    'losses',
    'student_backward',
    'optimizer',
    'other',
)
#: Dense peak TFLOP/s (vendor datasheets, no sparsity): (bf16/fp16 tensor core, fp32).
#: Matched by substring of ``torch.cuda.get_device_name()``, first match wins.
PEAK_TFLOPS = (
    ('H200', 989.0, 67.0),
    ('H100 PCIe', 756.0, 51.0),
    ('H100', 989.0, 67.0),  # SXM
    ('GH200', 989.0, 67.0),
    ('A100', 312.0, 19.5),
    ('A800', 312.0, 19.5),
    ('L40S', 362.0, 91.6),
    ('L40', 181.0, 90.5),
    ('L4', 121.0, 30.3),
    ('A10', 125.0, 31.2),
    ('A6000', 154.8, 38.7),
    ('4090', 165.2, 82.6),
    ('3090', 71.0, 35.6),
    ('V100', 125.0, 15.7),  # fp16 tensor cores; V100 has no bf16
    ('T4', 65.0, 8.1),
)
#: Usable allocator memory of a GPU of G GiB: minus the CUDA context, cuBLAS/cuDNN
#: workspaces and allocator fragmentation.
RESERVE_FRACTION = 0.05
RESERVE_GIB = 0.75


# --------------------------------------------------------------------------- config
def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='FLOPs and memory of one training iteration (see docs/performance.md).'
    )
    parser.add_argument('config', help='the config file')
    parser.add_argument(
        '--device',
        choices=['meta', 'cpu', 'cuda'],
        default='meta',
        help='meta: shapes only, no compute (default); cpu/cuda: run it',
    )
    parser.add_argument(
        '--batch-size',
        type=int,
        default=None,
        help="default: the config's train_dataloader.batch_size",
    )
    parser.add_argument('--json', help='write the report here')
    parser.add_argument(
        '--amp',
        choices=['none', 'bf16'],
        default=None,
        help="override the config's bf16 autocast switch (optim_wrapper.type "
        "'AutocastOptimWrapper'): bf16 autocast of the student forward and the losses, "
        'or none (fp32)',
    )
    parser.add_argument(
        '--grad-checkpoint',
        action=argparse.BooleanOptionalAction,
        default=None,
        help="override the config's model.student.with_cp (activation checkpointing of "
        "the student's encoder blocks)",
    )
    parser.add_argument(
        '--sdpa',
        action=argparse.BooleanOptionalAction,
        default=None,
        help="override every DepthAnythingV2's fused_attn (fused scaled-dot-product "
        'attention in the DINOv2 encoders)',
    )
    parser.add_argument(
        '--teacher-micro-batch',
        type=int,
        default=None,
        help="override the config's model.teacher.max_batch: run the teacher on chunks "
        'of at most N views (0: all views in one call)',
    )
    parser.add_argument(
        '--image-size',
        type=int,
        nargs=2,
        default=(1500, 2250),
        metavar=('H', 'W'),
        help='synthetic image size for image-file datasets (default SA-1B: 1500 2250)',
    )
    parser.add_argument(
        '--iters', type=int, default=5, help='timed iterations on cuda (after 2 warm-up iterations)'
    )
    parser.add_argument(
        '--no-fit', action='store_true', help='skip the second batch size (no fits_gib)'
    )
    parser.add_argument(
        '--load-checkpoints',
        action='store_true',
        help='keep the checkpoint fields (default: set to None)',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config values, e.g. model.student.encoder=vitb',
    )
    args = parser.parse_args(argv)
    if args.device == 'meta' and args.load_checkpoints:
        parser.error('--load-checkpoints needs --device cpu or cuda (meta holds no values)')
    return args


def _drop_checkpoints(node) -> None:
    """Set every ``checkpoint`` string inside a model config to None (in place)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'checkpoint' and isinstance(value, str):
                node[key] = None
            else:
                _drop_checkpoints(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _drop_checkpoints(value)


def _resolve_feat_source(model_cfg: dict) -> None:
    """Decide a distiller's ``feat_source='auto'`` from the checkpoint paths before
    they are dropped (the decision depends on them), in place.
    """
    if model_cfg.get('type') != 'CrossContextDistiller' or model_cfg.get('loss_feat') is None:
        return
    if model_cfg.get('feat_source', 'auto') != 'auto':
        return
    from mmdistilldepth.models.distillers.cross_context_distiller import same_encoder_weights

    kwargs = {k: model_cfg[k] for k in ('student_mean', 'student_std') if k in model_cfg}
    same = same_encoder_weights(
        model_cfg.get('student'), model_cfg.get('teacher'), model_cfg.get('feat_encoder'), **kwargs
    )
    model_cfg['feat_source'] = 'teacher' if same else 'copy'


def _estimators(model_cfg: dict) -> List[dict]:
    """The ``DepthAnythingV2`` configs inside a distiller config (student, teacher)."""
    found = []

    def visit(node):
        if isinstance(node, dict):
            if node.get('type') == 'DepthAnythingV2':
                found.append(node)
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    visit(model_cfg)
    return found


_AUTOCAST_WRAPPERS = ('AutocastOptimWrapper', 'ShardedClipOptimWrapper')
_AMP_WRAPPERS = ('AmpOptimWrapper', 'SkipNonFiniteAmpOptimWrapper')


def config_levers(cfg) -> dict:
    """The memory levers as the config sets them (after the overrides).

    * ``amp``: ``'bf16'`` when ``optim_wrapper.type`` autocasts to bfloat16
      (``AutocastOptimWrapper``, or MMEngine's ``AmpOptimWrapper`` with
      ``dtype='bfloat16'``), ``'fp16'`` for an fp16 AMP wrapper, else ``'none'``;
    * ``grad_checkpoint``: ``model.student.with_cp``;
    * ``sdpa``: every ``DepthAnythingV2`` in the model has ``fused_attn`` (its default);
    * ``teacher_micro_batch``: ``model.teacher.max_batch`` (None: one call).
    """
    optim = cfg.get('optim_wrapper') or {}
    kind = optim.get('type', 'OptimWrapper')
    amp = 'none'
    if kind in _AUTOCAST_WRAPPERS:
        amp = 'bf16' if optim.get('dtype', 'bfloat16') in ('bfloat16', 'bf16') else 'fp16'
    elif kind in _AMP_WRAPPERS:
        amp = (
            'bf16' if str(optim.get('dtype')) in ('bfloat16', 'bf16', 'torch.bfloat16') else 'fp16'
        )
    student = cfg.model.get('student') or {}
    teacher = cfg.model.get('teacher') or {}
    estimators = _estimators(cfg.model)
    return dict(
        amp=amp,
        grad_checkpoint=bool(isinstance(student, dict) and student.get('with_cp', False)),
        sdpa=bool(estimators) and all(e.get('fused_attn', True) for e in estimators),
        teacher_micro_batch=(teacher.get('max_batch') if isinstance(teacher, dict) else None),
    )


def load_benchmark_config(args: argparse.Namespace):
    """The config with the overrides, checkpoints dropped and the CLI levers applied.

    Without a lever flag the config's own switch holds (:func:`config_levers`).
    """
    from mmdistilldepth.utils import load_config

    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.device == 'meta' and cfg.model.get('compile'):
        cfg.model['compile'] = False  # meta counts FLOPs and bytes: the same eager
    if not args.load_checkpoints:
        _resolve_feat_source(cfg.model)
        _drop_checkpoints(cfg.model)
    if args.amp == 'bf16':
        cfg.optim_wrapper['type'] = 'AutocastOptimWrapper'
        cfg.optim_wrapper['dtype'] = 'bfloat16'
    elif args.amp == 'none' and config_levers(cfg)['amp'] != 'none':
        cfg.optim_wrapper['type'] = 'SkipNonFiniteOptimWrapper'
        for key in ('dtype', 'loss_scale'):
            cfg.optim_wrapper.pop(key, None)
    if args.grad_checkpoint is not None:
        student = cfg.model.get('student')
        if not (isinstance(student, dict) and student.get('type') == 'DepthAnythingV2'):
            raise SystemExit(
                'benchmark_train_step.py: --grad-checkpoint needs a '
                'DepthAnythingV2 student (model.student.type); it sets with_cp'
            )
        student['with_cp'] = bool(args.grad_checkpoint)
    if args.sdpa is not None:
        for est in _estimators(cfg.model):
            est['fused_attn'] = bool(args.sdpa)
    teacher = cfg.model.get('teacher')
    if args.teacher_micro_batch is not None and isinstance(teacher, dict):
        if teacher.get('type') in ('DepthAnythingTeacher', 'MiDaSTeacher'):
            teacher['max_batch'] = int(args.teacher_micro_batch) or None
    return cfg


def benchmark_levers(cfg, args: argparse.Namespace) -> dict:
    """The levers of the run: the config's, with ``--teacher-micro-batch`` for any
    teacher (every teacher reads ``BaseTeacher.max_batch``; run_iteration sets it on
    the built teacher when its constructor has no such argument).
    """
    levers = config_levers(cfg)
    if args.teacher_micro_batch is not None:
        levers['teacher_micro_batch'] = int(args.teacher_micro_batch) or None
    return levers


# --------------------------------------------------------------------------- batch
def make_batch(cfg, batch_size: int, image_size: Sequence[int], seed: int = 0) -> dict:
    """A collated batch of ``batch_size`` samples of the config's train pipeline.

    A dataset that renders its samples (``SyntheticScenes``) is built and sampled; a
    dataset of image files gets random uint8 RGB images of ``image_size`` through
    its pipeline (the dataset itself decodes files before the pipeline).
    """
    from mmengine.dataset import Compose, pseudo_collate

    from mmdistilldepth.registry import DATASETS

    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    samples = []
    if dataset_cfg.get('type') in ('UnlabeledImageDataset',):
        pipeline = Compose(dataset_cfg.get('pipeline', []))
        rng = np.random.default_rng(seed)
        height, width = int(image_size[0]), int(image_size[1])
        for i in range(batch_size):
            img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            samples.append(
                pipeline(
                    dict(
                        img=img,
                        img_path=f'synthetic_{i}.jpg',
                        ori_shape=(height, width),
                        sample_idx=i,
                    )
                )
            )
    else:
        dataset = DATASETS.build(dataset_cfg)
        samples = [dataset[i % len(dataset)] for i in range(batch_size)]
    return pseudo_collate(samples)


# --------------------------------------------------------------------------- emulation
_LOWER_PRECISION = {
    F.linear,
    F.conv1d,
    F.conv2d,
    F.conv3d,
    F.conv_transpose1d,
    F.conv_transpose2d,
    F.conv_transpose3d,
    torch.matmul,
    torch.mm,
    torch.bmm,
    torch.addmm,
    torch.baddbmm,
    torch.Tensor.matmul,
    torch.Tensor.__matmul__,
    torch.Tensor.mm,
    torch.Tensor.bmm,
    F.scaled_dot_product_attention,
}
_FP32 = {
    F.layer_norm,
    F.group_norm,
    F.softmax,
    F.log_softmax,
    torch.softmax,
    torch.Tensor.softmax,
    torch.Tensor.log_softmax,
    F.cosine_similarity,
    F.normalize,
    torch.exp,
    torch.log,
    torch.Tensor.exp,
    torch.Tensor.log,
    torch.Tensor.pow,
    torch.pow,
    torch.Tensor.sum,
    torch.sum,
    torch.cumsum,
    torch.Tensor.cumsum,
    torch.Tensor.norm,
    torch.norm,
    torch.rsqrt,
    torch.Tensor.rsqrt,
    torch.reciprocal,
    torch.Tensor.reciprocal,
}


class GpuPathEmulation(TorchFunctionMode):
    """On the meta device, run functions as the CUDA path runs them.

    * ``F.scaled_dot_product_attention`` without mask or dropout calls the fused
      kernel's aten op (flash for 16-bit inputs, memory-efficient for float32), whose
      autograd formula saves q, k, v, out and the logsumexp (B, h, N) only; the meta
      device's own dispatch would take the math path and save the attention matrix.
    * While ``cast_dtype`` is set (``autocast``): CUDA autocast's cast policy for the
      ops these models use: matmuls, convolutions and SDPA in bf16 (a parameter is
      cast once per region, as autocast caches it), normalizations, softmax,
      reductions, exp/log/pow in float32, everything else in its input dtype.
    """

    def __init__(self, fused_sdpa: bool = True) -> None:
        super().__init__()
        self.fused_sdpa = fused_sdpa
        self.cast_dtype: Optional[torch.dtype] = None
        self._weight_cache: Dict[int, torch.Tensor] = {}
        self.attention_matrix_bytes_avoided = 0

    @contextlib.contextmanager
    def autocast(self, dtype: Optional[torch.dtype]):
        previous, self.cast_dtype = self.cast_dtype, dtype
        try:
            yield
        finally:
            self.cast_dtype = previous
            if previous is None:
                self._weight_cache.clear()

    def _cast(self, value, dtype: torch.dtype):
        if not (
            isinstance(value, torch.Tensor)
            and value.is_floating_point()
            and value.dtype != dtype
            and value.dtype != torch.float64
        ):
            return value
        if isinstance(value, torch.nn.Parameter) and value.requires_grad:
            key = id(value)
            if key not in self._weight_cache:
                self._weight_cache[key] = value.to(dtype)
            return self._weight_cache[key]
        return value.to(dtype)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.cast_dtype is not None:
            if func in _LOWER_PRECISION:
                args = [self._cast(a, self.cast_dtype) for a in args]
                kwargs = {k: self._cast(v, self.cast_dtype) for k, v in kwargs.items()}
            elif func in _FP32:
                args = [
                    self._cast(a, torch.float32)
                    if isinstance(a, torch.Tensor) and a.dtype in (torch.bfloat16, torch.float16)
                    else a
                    for a in args
                ]
        if func is F.scaled_dot_product_attention and self.fused_sdpa:
            out = self._fused_sdpa(*args, **kwargs)
            if out is not None:
                return out
        return func(*args, **kwargs)

    def _fused_sdpa(
        self, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **extra
    ):
        if attn_mask is not None or dropout_p or extra or query.dim() != 4:
            return None
        b, h, n, _ = query.shape
        self.attention_matrix_bytes_avoided += b * h * n * key.shape[-2] * 4
        if query.dtype in (torch.float16, torch.bfloat16):
            return torch.ops.aten._scaled_dot_product_flash_attention(
                query, key, value, 0.0, is_causal, False, scale=scale
            )[0]
        need_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value))
        return torch.ops.aten._scaled_dot_product_efficient_attention(
            query, key, value, None, need_grad, 0.0, is_causal, scale=scale
        )[0]


@contextlib.contextmanager
def meta_autocast(emulation: 'GpuPathEmulation'):
    """Let ``torch.autocast('meta', ...)`` in model code mean the emulated autocast.

    ``torch.autocast`` refuses the meta device even when disabled; model code that
    opens ``torch.autocast(x.device.type, enabled=...)`` then gets a no-op (disabled)
    or :meth:`GpuPathEmulation.autocast` (enabled). Restored on exit.
    """
    real = torch.autocast

    def patched(device_type, dtype=None, enabled=True, cache_enabled=None):
        if device_type != 'meta':
            return real(device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)
        return emulation.autocast(dtype or torch.bfloat16) if enabled else contextlib.nullcontext()

    torch.autocast = patched
    try:
        yield
    finally:
        torch.autocast = real


_SCALAR_READS = {
    torch.ops.aten._local_scalar_dense.default,
    torch.ops.aten.item.default,
    torch.ops.aten.is_nonzero.default,
}


def _meta_bincount(values, weights=None, minlength=0):
    """``bincount`` on meta: its length is ``minlength`` (callers size it so)."""
    dtype = torch.int64 if weights is None else weights.dtype
    return torch.zeros(max(1, int(minlength)), dtype=dtype, device='meta')


class IterationTracker(TorchDispatchMode):
    """FLOPs per phase, live storage bytes and their peak, over one iteration.

    Every storage an op returns is counted from the op until the storage is freed
    (a finalizer on the storage object, which PyTorch keeps alive as long as the
    storage). FLOPs: the increase of ``counter`` (the FlopCounterMode below this
    mode) during each op, booked to the current phase. On the meta device a
    Python scalar read of a tensor (``.item()``, ``bool()``, ``float()``) returns a
    stand-in: True, 0 or 1.0 (finite checks pass, no non-finite count).
    """

    def __init__(
        self,
        counter: FlopCounterMode,
        static_bytes: int,
        fake_scalars: bool,
        static_keys: Sequence[int] = (),
    ) -> None:
        super().__init__()
        self.static_keys = set(static_keys)  # storages counted in static_bytes
        self.phase_stack = ['other']
        self.flops = {p: 0 for p in PHASES}
        self.static_bytes = static_bytes
        self.live: Dict[int, tuple] = {}
        self.live_bytes = 0
        self.peak_bytes = static_bytes
        self.peak_phase = 'start'
        self.peak_by_phase: Dict[str, int] = {}
        self.phase_peaks: Dict[str, int] = {}  # the largest total while in each phase
        self.fake_scalars = fake_scalars
        self.counter = counter
        self._counted = 0

    @contextlib.contextmanager
    def phase(self, name: str):
        gc.collect()  # reference cycles are freed where refcounting would free them
        self.phase_stack.append(name)
        try:
            yield
        finally:
            self.phase_stack.pop()
            gc.collect()

    def _free(self, key: int) -> None:
        entry = self.live.pop(key, None)
        if entry is not None:
            self.live_bytes -= entry[0]

    def _count(self) -> None:
        total = sum(self.counter.flop_counts['Global'].values())
        self.flops[self.phase_stack[-1]] += total - self._counted
        self._counted = total

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.fake_scalars and func in _SCALAR_READS and args[0].device.type == 'meta':
            if func is torch.ops.aten.is_nonzero.default:
                return True
            dtype = args[0].dtype
            return True if dtype == torch.bool else (1.0 if dtype.is_floating_point else 0)
        if (
            self.fake_scalars
            and func is torch.ops.aten.bincount.default
            and args[0].device.type == 'meta'
        ):
            out = _meta_bincount(*args, **kwargs)
        else:
            out = func(*args, **kwargs)
        phase = self.phase_stack[-1]
        self._count()
        for tensor in tree_flatten(out)[0]:
            if (
                not isinstance(tensor, torch.Tensor)
                or tensor.device.type == 'cpu'
                and self.fake_scalars
            ):
                continue
            storage = tensor.untyped_storage()
            key = storage._cdata
            if key not in self.live and key not in self.static_keys:
                nbytes = storage.nbytes()
                self.live[key] = (nbytes, phase)
                self.live_bytes += nbytes
                weakref.finalize(storage, self._free, key)
        total = self.static_bytes + self.live_bytes
        if total > self.phase_peaks.get(phase, 0):
            self.phase_peaks[phase] = total
        if total > self.peak_bytes:
            self.peak_bytes = total
            self.peak_phase = phase
            self.peak_by_phase = {}
            for nbytes, where in self.live.values():
                self.peak_by_phase[where] = self.peak_by_phase.get(where, 0) + nbytes
        return out


def _storages_bytes(tensors) -> int:
    seen = {}
    for t in tensors:
        if t is not None:
            s = t.untyped_storage()
            seen[s._cdata] = s.nbytes()
    return sum(seen.values())


# --------------------------------------------------------------------------- the step
def _wrap(obj, name: str, around):
    """Replace ``obj.name`` (a bound method) on the instance by ``around(original)``."""
    original = getattr(obj, name)
    setattr(obj, name, around(original))


def _phase_wrapper(tracker, phase: str, before=None):
    def around(fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with tracker.phase(phase), before() if before else contextlib.nullcontext():
                return fn(*args, **kwargs)

        return wrapped

    return around


def _reenter_in_recompute(
    blocks, emulation: GpuPathEmulation, amp_dtype: Optional[torch.dtype]
) -> None:
    """Checkpoint recomputation runs without the torch-function modes: re-enter the
    emulation (and its autocast) around each recomputed block, so the recomputed
    forward saves what the original one did.
    """
    entered = []

    def pre(module, inputs):
        if torch._C._len_torch_function_stack() == 0:
            gc.collect()
            region = emulation.autocast(amp_dtype)
            emulation.__enter__()
            region.__enter__()
            entered.append(region)

    def post(module, inputs, output):
        if entered and torch._C._len_torch_function_stack() == 1:
            entered.pop().__exit__(None, None, None)
            emulation.__exit__(None, None, None)

    for block in blocks:
        block.register_forward_pre_hook(pre)
        block.register_forward_hook(post)


def build_model_and_optim(cfg, device: str):
    from mmengine.optim import build_optim_wrapper

    from mmdistilldepth.registry import MODELS

    with torch.device(device) if device == 'meta' else contextlib.nullcontext():
        model = MODELS.build(copy.deepcopy(cfg.model))
    if device != 'meta':  # as the runner does; on meta the constructor did it all
        if getattr(model, 'feat_source', None) == 'teacher' and model.student.checkpoint is None:
            # the config loads one checkpoint into both encoders; random weights here:
            # give the student the teacher's encoder, as that checkpoint would
            model.student.backbone.load_state_dict(model.teacher.model.backbone.state_dict())
        model.init_weights()
    model = model.to(device)
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    return model, optim_wrapper


def _frozen_modules(model) -> List[torch.nn.Module]:
    return [m for m in getattr(model, '_frozen', {}).values() if m is not None]


def _init_optimizer_state(optim_wrapper) -> None:
    """Create the optimizer state as at steady state (a zero-gradient step, lr 0)."""
    optimizer = optim_wrapper.optimizer
    lrs = [g['lr'] for g in optimizer.param_groups]
    for group in optimizer.param_groups:
        group['lr'] = 0.0
        for p in group['params']:
            if p.requires_grad:
                p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    for group, lr in zip(optimizer.param_groups, lrs):
        group['lr'] = lr


def _optimizer_state_bytes(optim_wrapper) -> int:
    tensors = [
        v
        for state in optim_wrapper.optimizer.state.values()
        for v in state.values()
        if isinstance(v, torch.Tensor)
    ]
    return _storages_bytes(tensors)


def run_iteration(cfg, args, levers: dict, batch_size: int) -> dict:
    """Build, make the batch, run one tracked iteration; returns the raw figures."""
    device = args.device
    model, optim_wrapper = build_model_and_optim(cfg, device)
    model.train()
    batch = make_batch(cfg, batch_size, args.image_size)
    _init_optimizer_state(optim_wrapper)
    params = list(model.parameters()) + [p for m in _frozen_modules(model) for p in m.parameters()]
    buffers = list(model.buffers()) + [b for m in _frozen_modules(model) for b in m.buffers()]
    trainable = [p for p in model.parameters() if p.requires_grad]
    param_bytes = _storages_bytes(params + buffers)
    opt_bytes = _optimizer_state_bytes(optim_wrapper)
    grad_bytes = sum(p.numel() * p.element_size() for p in trainable)

    meta = device == 'meta'
    emulation = GpuPathEmulation(fused_sdpa=True) if meta else None
    opt_tensors = [
        v
        for state in optim_wrapper.optimizer.state.values()
        for v in state.values()
        if isinstance(v, torch.Tensor)
    ]
    counter = FlopCounterMode(display=False)
    tracker = IterationTracker(
        counter,
        param_bytes + opt_bytes,
        fake_scalars=meta,
        static_keys=[t.untyped_storage()._cdata for t in params + buffers + opt_tensors],
    )
    amp_dtype = dict(bf16=torch.bfloat16, fp16=torch.float16).get(levers['amp'])

    def autocast(dtype):
        return (lambda: emulation.autocast(dtype)) if emulation is not None else None

    # phases: wrap the instance methods the distiller calls
    _wrap(model.data_preprocessor, 'forward', _phase_wrapper(tracker, 'preprocess'))
    teacher = getattr(model, 'teacher', None)
    if teacher is not None:
        teacher.max_batch = levers['teacher_micro_batch']
        teacher_dtype = getattr(teacher, 'autocast_dtype', torch.bfloat16)
        for method in ('predict', 'predict_with_features'):
            if hasattr(teacher, method):
                _wrap(teacher, method, _phase_wrapper(tracker, 'teacher', autocast(teacher_dtype)))
        if hasattr(teacher, 'encode'):  # feat_source='teacher': L_feat's encoder calls
            _wrap(
                teacher,
                'encode',
                _phase_wrapper(tracker, 'frozen_encoder', autocast(teacher_dtype)),
            )
    _wrap(
        model.student,
        'forward_with_features',
        _phase_wrapper(tracker, 'student_forward', autocast(amp_dtype)),
    )
    feat_encoder = getattr(model, 'feat_encoder', None)
    if feat_encoder is not None:
        _wrap(
            feat_encoder, 'forward', _phase_wrapper(tracker, 'frozen_encoder', autocast(amp_dtype))
        )
    for name in ('loss_sc', 'loss_lg', 'loss_grad', 'loss_feat'):
        loss = getattr(model, name, None)
        if loss is not None:
            _wrap(loss, 'forward', _phase_wrapper(tracker, 'losses'))
    _wrap(optim_wrapper, 'backward', _phase_wrapper(tracker, 'student_backward'))
    _wrap(optim_wrapper, 'step', _phase_wrapper(tracker, 'optimizer'))

    if emulation is not None and levers['grad_checkpoint']:
        _reenter_in_recompute(model.student.backbone.blocks, emulation, amp_dtype)
        # recompute whole blocks, so that the hooks that close the emulation run
        modes_extra = [torch.utils.checkpoint.set_checkpoint_early_stop(False)]
    else:
        modes_extra = []

    saved: Dict[int, int] = {}
    param_keys = {p.untyped_storage()._cdata for p in params}

    def pack(t):
        s = t.untyped_storage()
        if s._cdata not in param_keys:
            saved[s._cdata] = s.nbytes()
        return t

    timings = {}
    if device == 'cuda':
        # warm-up (cuDNN/cuBLAS autotuning, allocator), then the measured iterations
        for _ in range(2):
            model.train_step(copy.deepcopy(batch), optim_wrapper)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(args.iters):
            model.train_step(copy.deepcopy(batch), optim_wrapper)
        torch.cuda.synchronize()
        timings['step_time_s'] = (time.perf_counter() - start) / args.iters
        timings['cuda_peak_bytes'] = torch.cuda.max_memory_allocated()
    modes = [counter] + modes_extra
    if emulation is not None:
        modes += [emulation, meta_autocast(emulation)]
    with contextlib.ExitStack() as stack:
        for mode in modes:
            stack.enter_context(mode)
        stack.enter_context(tracker)
        stack.enter_context(torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t))
        # Deterministic peak: no automatic collection at random times; reference
        # cycles are collected at every phase boundary and before every recomputed
        # checkpointed block (IterationTracker.phase, _reenter_in_recompute).
        gc.collect()
        gc.freeze()  # the objects made so far are not garbage: collections skip them
        gc.disable()
        stack.callback(gc.unfreeze)
        stack.callback(gc.enable)
        start = time.perf_counter()
        model.train_step(batch, optim_wrapper)
        elapsed = time.perf_counter() - start
    flops_total = int(counter.get_total_flops())
    return dict(
        flops=flops_total,
        flops_breakdown=dict(tracker.flops),
        tracker=tracker,
        param_bytes=param_bytes,
        opt_bytes=opt_bytes,
        grad_bytes=grad_bytes,
        saved_bytes=sum(saved.values()),
        trainable_params=sum(p.numel() for p in trainable),
        frozen_params=sum(p.numel() for p in params) - sum(p.numel() for p in trainable),
        attention_matrix_bytes_avoided=(
            emulation.attention_matrix_bytes_avoided if emulation else 0
        ),
        tracked_iteration_s=elapsed,
        **timings,
    )


def peak_tflops(name: str, amp: str) -> Optional[float]:
    for key, half, single in PEAK_TFLOPS:
        if key.lower() in name.lower():
            return half if amp in ('bf16', 'fp16') else single
    return None


def fits(fixed_gib: float, per_sample_gib: float) -> Dict[str, int]:
    result = {}
    for size in GPU_SIZES_GIB:
        usable = size * (1 - RESERVE_FRACTION) - RESERVE_GIB
        if per_sample_gib <= 0:
            result[str(size)] = -1
            continue
        result[str(size)] = max(0, int(math.floor((usable - fixed_gib) / per_sample_gib)))
    return result


def assumptions(args, levers: dict) -> List[str]:
    items = [
        'flops: torch.utils.flop_counter formulas (matmul, convolution, attention); '
        'elementwise ops, normalizations and the optimizer count 0; a multiply-add is '
        '2 FLOPs',
        'student_backward: everything autograd runs (student, losses, view cutting; '
        'the recomputed forward of checkpointed blocks when --grad-checkpoint)',
        f'fits_gib: usable = {1 - RESERVE_FRACTION:.2f} x size - {RESERVE_GIB} GiB '
        '(CUDA context, cuBLAS/cuDNN workspaces, fragmentation), peak linear in the '
        'batch (fit through two batch sizes)',
        'steady state: the AdamW state (2 fp32 tensors per trainable parameter) exists '
        'before the iteration; gradients are set to None after the step',
        'one process, one GPU: no DDP gradient buckets (DDP adds about one more gradient copy)',
    ]
    if args.device == 'cuda':
        items.append(
            'peak_memory_gib: torch.cuda.max_memory_allocated over '
            f'{args.iters} iterations after 2 warm-up iterations'
        )
    else:
        items.append(
            'peak_memory_gib: simulated allocator: every storage counted from '
            'the op that makes it until it is freed, plus parameters, buffers '
            'and the optimizer state; no caching-allocator rounding'
        )
    if args.device == 'meta':
        items += [
            'meta device: every F.scaled_dot_product_attention without mask runs as the '
            "GPU's fused kernel (flash for bf16, memory-efficient for fp32): saves q, k, "
            'v, out and logsumexp, no (B, h, N, N) attention matrix; the meta device '
            'itself would take the math path (attention_matrix_gib_avoided says how much '
            'that would add)',
            'meta device: the teacher runs under emulated bf16 autocast as on CUDA '
            '(DepthAnythingTeacher.autocast_dtype); the student and the losses too '
            'with the bf16 lever (CUDA autocast cast policy: matmul/conv/SDPA in bf16, '
            'norms/softmax/reductions in fp32, parameters cast once per region)',
            'meta device: data-dependent Python scalars read True / 0 / 1.0 (finite '
            'checks pass); the loss shapes do not depend on values',
        ]
    if levers['teacher_micro_batch']:
        items.append(
            f'the teacher runs on chunks of {levers["teacher_micro_batch"]} views '
            '(BaseTeacher.max_batch)'
        )
    if levers['grad_checkpoint']:
        items.append(
            'activation checkpointing: the recomputed blocks run under the same '
            'emulation (SDPA kernel, autocast) as the first forward'
        )
    items.append(
        'reference cycles are collected at every phase boundary and before every '
        'recomputed block (automatic GC off during the iteration), so the figure is '
        'deterministic and counts what reference counting frees'
    )
    return items


def benchmark(args: argparse.Namespace) -> dict:
    from mmengine.logging import MMLogger

    from mmdistilldepth.utils import register_all_modules

    register_all_modules()
    MMLogger.get_instance('benchmark_train_step', log_level='WARNING')
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('benchmark_train_step.py: --device cuda but CUDA is not available')
    cfg = load_benchmark_config(args)
    levers = benchmark_levers(cfg, args)
    batch_size = args.batch_size or int(cfg.train_dataloader.batch_size)
    torch.manual_seed(0)
    main = run_iteration(cfg, args, levers, batch_size)
    gib = lambda b: round(b / GIB, 3)  # noqa: E731
    tracker = main['tracker']
    peak = main.get('cuda_peak_bytes', tracker.peak_bytes)
    report = dict(
        config=args.config,
        device=args.device,
        batch_size=batch_size,
        levers=levers,
        flops_per_iter=main['flops'],
        flops_breakdown=main['flops_breakdown'],
        peak_memory_gib=gib(peak),
        memory_breakdown_gib=dict(
            parameters_and_buffers=gib(main['param_bytes']),
            gradients=gib(main['grad_bytes']),
            optimizer_state=gib(main['opt_bytes']),
            saved_for_backward=gib(main['saved_bytes']),
            peak_phase=tracker.peak_phase,
            peak_while_in_phase={k: gib(v) for k, v in tracker.phase_peaks.items()},
            live_at_peak_by_phase={k: gib(v) for k, v in sorted(tracker.peak_by_phase.items())},
            attention_matrix_gib_avoided=gib(main['attention_matrix_bytes_avoided']),
        ),
        trainable_params=main['trainable_params'],
        frozen_params=main['frozen_params'],
    )
    if args.device == 'cuda':
        report['simulated_peak_memory_gib'] = gib(tracker.peak_bytes)
    if not args.no_fit:
        other_bs = batch_size // 2 if batch_size > 1 else 2
        second = run_iteration(cfg, args, levers, other_bs)
        peak2 = second.get('cuda_peak_bytes', second['tracker'].peak_bytes)
        per_sample = (peak - peak2) / (batch_size - other_bs) / GIB
        fixed = peak / GIB - per_sample * batch_size
        report['fits_gib'] = fits(fixed, per_sample)
        report['memory_fit'] = dict(
            batch_sizes=[batch_size, other_bs],
            fixed_gib=round(fixed, 3),
            per_sample_gib=round(per_sample, 4),
            flops_per_sample=(main['flops'] - second['flops']) / (batch_size - other_bs),
        )
    strategy = cfg.get('strategy') or {}
    if strategy.get('type') == 'FSDPStrategy':
        # FULL_SHARD: each process keeps 1/N of the trainable parameters, their
        # gradients and AdamW state, plus the full parameters of the units in flight
        # (the running ViT block and the prefetched next one)
        sharded = main['grad_bytes'] + main['grad_bytes'] + main['opt_bytes']
        blocks = max(1, len(getattr(getattr(cfg.model, 'student', None), 'blocks', [])) or 40)
        in_flight = 2 * main['grad_bytes'] / blocks
        report['fsdp_peak_gib_per_process'] = {
            str(n): gib(peak - sharded * (1 - 1 / n) + in_flight) for n in (1, 2, 4, 8, 16)
        }
    if args.device == 'cuda':
        step = main['step_time_s']
        name = torch.cuda.get_device_name()
        peak_tf = peak_tflops(name, levers['amp'])
        report.update(
            gpu=name,
            step_time_s=round(step, 4),
            images_per_s=round(batch_size / step, 2),
            achieved_tflops=round(main['flops'] / step / 1e12, 2),
            peak_tflops=peak_tf,
            mfu=None if peak_tf is None else round(main['flops'] / step / (peak_tf * 1e12), 4),
        )
    report['assumptions'] = assumptions(args, levers)
    return report


def print_report(report: dict) -> None:
    tf = report['flops_per_iter'] / 1e12
    print(
        f'{report["config"]} on {report["device"]}, batch {report["batch_size"]}, '
        f'levers {report["levers"]}'
    )
    print(f'  FLOPs/iteration: {tf:.2f} TFLOP')
    for phase, flops in report['flops_breakdown'].items():
        if flops:
            print(
                f'    {phase:17s} {flops / 1e12:9.3f} TFLOP '
                f'({100 * flops / max(1, report["flops_per_iter"]):.1f}%)'
            )
    print(f'  peak memory: {report["peak_memory_gib"]:.2f} GiB ({report["memory_breakdown_gib"]})')
    if 'fits_gib' in report:
        print(f'  largest batch per GPU size (GiB): {report["fits_gib"]}')
    if 'step_time_s' in report:
        print(
            f'  step time {report["step_time_s"]:.3f} s, {report["images_per_s"]} img/s, '
            f'{report["achieved_tflops"]} TFLOP/s, MFU {report["mfu"]} on {report["gpu"]}'
        )


def main(argv=None) -> dict:
    args = parse_args(argv)
    report = benchmark(args)
    print_report(report)
    if args.json:
        folder = osp.dirname(osp.abspath(args.json))
        os.makedirs(folder, exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
        print(f'  written to {args.json}')
    return report


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    main()
