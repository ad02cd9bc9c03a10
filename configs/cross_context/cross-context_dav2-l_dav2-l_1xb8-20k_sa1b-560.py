# Cross-context distillation, the paper's main setting (Table 5, "Ours*"):
# student Depth Anything V2-Large, encoder from DAv2-L and the DPT decoder from scratch
# (appendix C.1), teacher DAv2-L; hybrid normalization, lambda = (0.5, 1.0, 2.0);
# 560x560 views; 20k iterations, batch 8 on one GPU; best checkpoint by AbsRel on NYUv2.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/distillers/cross_context.py',
    '../_base_/datasets/sa1b_unlabeled.py',
    '../_base_/datasets/nyu.py',
    '../_base_/schedules/distill_20k.py',
]

student_checkpoint = 'checkpoints/depth_anything_v2_vitl.pth'
teacher_checkpoint = 'checkpoints/depth_anything_v2_vitl.pth'
train_size = {{_base_.train_size}}  # 560, set once in _base_/datasets/sa1b_unlabeled.py

model = dict(
    student=dict(
        type='DepthAnythingV2',
        encoder='vitl',
        checkpoint=student_checkpoint,
        checkpoint_scope='encoder',
        fused_attn=True,  # lever 1: fused SDPA attention (no (B, h, N, N) matrix kept)
        with_cp=True,  # lever 3: activation checkpointing of the 24 encoder blocks
    ),
    teacher=dict(
        type='DepthAnythingTeacher',
        model=dict(type='DepthAnythingV2', encoder='vitl', fused_attn=True),
        checkpoint=teacher_checkpoint,
        max_batch=8,  # lever 4: the teacher's 24 views in micro-batches of 8
    ),
    train_size=(train_size, train_size),
)

# Memory levers: batch 8 fits one 32 GB GPU (modelled peak in docs/performance.md,
# tools/analysis/benchmark_train_step.py reads these switches). One switch each:
#   fused_attn (student, teacher)  fused SDPA attention
#   optim_wrapper.type             lever 2: 'AutocastOptimWrapper' = bf16 autocast of the
#                                  student forward and the losses, on CUDA and CPU (bf16
#                                  needs no loss scaler); 'SkipNonFiniteOptimWrapper' = fp32
#   model.student.with_cp          activation checkpointing (+15% FLOPs, recomputation)
#   model.teacher.max_batch        teacher micro-batches (None: one call on all views)
# The teacher always runs under inference_mode and, on CUDA, bf16 autocast. GPUs without
# bf16 (V100): --amp --cfg-options optim_wrapper.dtype=float16 (fp16 with a loss scaler,
# same memory for the student; the teacher's bf16 autocast on a V100 is untested).
optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16')

# save_best='abs_rel' (default_runtime) needs a validation at every save
default_hooks = dict(checkpoint=dict(interval={{_base_.val_interval}}))
custom_hooks = [dict(type='DepthVisualizationHook', interval=1000)]
