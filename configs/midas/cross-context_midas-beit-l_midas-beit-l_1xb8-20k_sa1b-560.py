# Table 5, "Ours†": cross-context distillation applied to MiDaS v3.1. Student MiDaS
# v3.1 DPT-BEiT-L/16-512 with its encoder from the official weights and the DPT decoder
# trained from scratch (appendix C.1, as for DAv2), teacher the pre-trained MiDaS v3.1
# BEiT-L/16-512; hybrid normalization, lambda = (0.5, 1.0, 2.0); 560x560 views (35x35
# BEiT patches: its relative-position tables are resized to the view); 20k iterations,
# batch 8; best checkpoint by AbsRel on NYUv2 (evaluated at MiDaS's own test size).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/sa1b_unlabeled.py',
    '../_base_/datasets/nyu.py',
    '../_base_/schedules/distill_20k.py',
]

student_checkpoint = 'checkpoints/dpt_beit_large_512.pt'
teacher_checkpoint = 'checkpoints/dpt_beit_large_512.pt'
train_size = 560
midas_mean = [0.5, 0.5, 0.5]
midas_std = [0.5, 0.5, 0.5]

model = dict(
    type='CrossContextDistiller',
    data_preprocessor=dict(type='CrossContextDataPreprocessor'),
    student=dict(
        type='MiDaS',
        model_type='dpt_beit_large_512',
        checkpoint=student_checkpoint,
        checkpoint_scope='encoder',
    ),
    teacher=dict(
        type='MiDaSTeacher',
        model=dict(type='MiDaS', model_type='dpt_beit_large_512'),
        checkpoint=teacher_checkpoint,
    ),
    student_mean=midas_mean,
    student_std=midas_std,
    train_size=(train_size, train_size),
    shared_context=True,
    local_global=True,
    loss_sc=dict(type='NormalizedL1Loss', normalization='hybrid', grouping='range'),
    loss_lg=dict(type='NormalizedL1Loss', normalization='hybrid', grouping='range'),
    loss_grad=dict(type='GradientMatchingLoss', scales=4),
    loss_feat=dict(type='FeatureAlignmentLoss', margin=0.85),
    loss_weights=dict(sc=1.0, lg=0.5, feat=1.0, grad=2.0),
)

# Evaluate the student at MiDaS's test-time size (minimal resize around 512, multiple
# of 32, aspect kept) instead of DAv2's 518 / multiple of 14.
# The views of _base_/datasets/sa1b_unlabeled.py; BEiT's patches are 16 px, so the
# global view's sides are multiples of 16 (560 = 35 x 16 for the crops and patches).
train_pipeline = [
    dict(
        type='CrossContextCrops',
        global_size=train_size,
        size_multiple=16,
        shared_side=(644, None),
        local_size=train_size,
        num_local=4,
        local_overlap=0.25,
    ),
    dict(
        type='PackDepthInputs',
        meta_keys=('scale_factor', 'shared_box', 'local_boxes', 'shared_clamped'),
    ),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

midas_test_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='LoadDepthAnnotation', format='nyu'),
    dict(type='ResizeForMiDaS', size=512, keep_aspect_ratio=True),
    dict(type='PackDepthInputs'),
]
test_dataloader = dict(dataset=dict(pipeline=midas_test_pipeline))
val_dataloader = dict(dataset=dict(pipeline=midas_test_pipeline))

default_hooks = dict(checkpoint=dict(interval=2000, save_best='abs_rel', rule='less'))
custom_hooks = [dict(type='DepthVisualizationHook', interval=1000)]
