# Cross-context distillation, the paper's main setting (Table 5, "Ours*"):
# student Depth Anything V2-Large, encoder from DAv2-L and the DPT decoder from scratch
# (appendix C.1), teacher DAv2-L; hybrid normalization, lambda = (0.5, 1.0, 2.0);
# 560x560 views; 20k iterations, batch 8; best checkpoint by AbsRel on NYUv2.
_base_ = [
    '_base_/default_runtime.py',
    '_base_/datasets/sa1b_unlabeled.py',
    '_base_/datasets/nyu.py',
    '_base_/schedules/distill_20k.py',
]

student_checkpoint = 'checkpoints/depth_anything_v2_vitl.pth'
teacher_checkpoint = 'checkpoints/depth_anything_v2_vitl.pth'
train_size = 560

model = dict(
    type='CrossContextDistiller',
    data_preprocessor=dict(type='DepthDataPreprocessor'),
    student=dict(type='DepthAnythingV2', encoder='vitl', checkpoint=student_checkpoint,
                 checkpoint_scope='encoder'),
    teacher=dict(type='DepthAnythingTeacher',
                 model=dict(type='DepthAnythingV2', encoder='vitl'),
                 checkpoint=teacher_checkpoint),
    train_size=(train_size, train_size),
    shared_context=True,
    local_global=True,
    loss_sc=dict(type='NormalizedL1Loss', normalization='hybrid', grouping='range'),
    loss_lg=dict(type='NormalizedL1Loss', normalization='hybrid', grouping='range'),
    loss_grad=dict(type='GradientMatchingLoss', scales=4),
    loss_feat=dict(type='FeatureAlignmentLoss', margin=0.85),
    loss_weights=dict(sc=1.0, lg=0.5, feat=1.0, grad=2.0))

default_hooks = dict(checkpoint=dict(interval=2000, save_best='abs_rel', rule='less'))
custom_hooks = [dict(type='DepthVisualizationHook', interval=1000)]
