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
    ),
    teacher=dict(
        type='DepthAnythingTeacher',
        model=dict(type='DepthAnythingV2', encoder='vitl'),
        checkpoint=teacher_checkpoint,
    ),
    train_size=(train_size, train_size),
)

# save_best='abs_rel' (default_runtime) needs a validation at every save
default_hooks = dict(checkpoint=dict(interval={{_base_.val_interval}}))
custom_hooks = [dict(type='DepthVisualizationHook', interval=1000)]
