# The default job (configs/quickstart/cross_context_synthetic.py): cross-context
# distillation in the synthetic world, on a CPU.
#
# A tiny Depth Anything V2-style student (DINOv2-style ViT + DPT head, random init)
# learns from the SimulatedTeacher on procedurally rendered scenes, and is validated
# through the real NYUv2 reader and the community protocol on a synthetic set in the
# NYUv2 layout (written into data/ on first use). Nothing is downloaded.
# The method (modes, losses, weights) is _base_/distillers/cross_context.py's.
_base_ = ['../_base_/default_runtime.py', '../_base_/distillers/cross_context.py']

canvas_size = 168  # rendered training images (px)
train_size = 112  # every training view, a multiple of the patch size 14
val_root = 'data/synthetic_nyu'  # generated on first use, reused afterwards
val_input_size = 126  # the student's input side at validation (lower bound, x14)
max_iters = 600
val_interval = 200  # validation, best checkpoint and pictures

model = dict(
    student=dict(
        type='DepthAnythingV2',
        encoder=dict(embed_dim=96, depth=4, num_heads=3, layer_idx=(0, 1, 2, 3)),
        features=32,
        out_channels=(24, 48, 96, 96),
    ),
    teacher=dict(type='SimulatedTeacher', internal_size=32, noise_amplitude=0.1),
    train_size=(train_size, train_size),
    loss_grad=dict(scales=3),
    # The student starts from random weights: there is no pretrained encoder worth
    # staying close to, so feature alignment is off here (the DAv2 configs use it).
    loss_feat=None,
)

# The paper's views (section 4.1) scaled from 560 to 112 px views: the shared crop's side
# is drawn from [129 px (644 x 112 / 560), 168 px] of the rendered image, the student sees
# the whole 168 px image at 112 x 112, the teacher 4 local patches of 112 px at 1:1 (a
# 2x2 grid that spans the 168 px image: stride 56 px, 50% overlap).
train_pipeline = [
    dict(
        type='CrossContextCrops',
        global_size=train_size,
        shared_side=(round(644 * train_size / 560), None),
        local_size=train_size,
        num_local=4,
        local_overlap=0.25,
    ),
    dict(
        type='PackDepthInputs',
        meta_keys=('scale_factor', 'shared_box', 'local_boxes', 'shared_clamped'),
    ),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='SyntheticScenes',
        num_samples=20000,
        height=canvas_size,
        width=canvas_size,
        seed=0,
        pipeline=train_pipeline,
    ),
)

val_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='LoadDepthAnnotation', format='nyu'),
    dict(type='ResizeForDepthModel', size=val_input_size),
    dict(type='PackDepthInputs'),
]
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='SyntheticNYUv2', data_root=val_root, num_samples=40, seed=1000, pipeline=val_pipeline
    ),
)
val_evaluator = dict(
    type='AffineInvariantDepthMetric', benchmark='nyu', alignment='least_square_disparity'
)
test_dataloader = val_dataloader
test_evaluator = val_evaluator

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='SkipNonFiniteOptimWrapper',  # a non-finite loss skips the update, logged
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=1.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=1e-5),
]

# save_best='abs_rel' (default_runtime) needs a validation at every save
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=val_interval))
custom_hooks = [
    dict(type='ValidateAtStartHook'),
    dict(type='DepthVisualizationHook', interval=val_interval),  # PNGs under work_dir/*/vis_data
]
