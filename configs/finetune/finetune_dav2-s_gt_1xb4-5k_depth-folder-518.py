# Relative (affine-invariant) fine-tuning of DAv2-S on your own labeled images
# (DepthFolderDataset): disparity normalized per image (median / MAD) + gradient
# matching, the whole pretrained model as the start. docs/custom_data.md.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/depth_folder.py',
    '../_base_/schedules/finetune_20k.py',
]

student_checkpoint = 'checkpoints/depth_anything_v2_vits.pth'
train_size = {{_base_.train_size}}
model = dict(
    type='SupervisedDepthEstimator',
    student=dict(type='DepthAnythingV2', encoder='vits', checkpoint=student_checkpoint),
    loss=dict(type='NormalizedL1Loss', normalization='global'),
    loss_grad=dict(type='GradientMatchingLoss', scales=4),
    loss_weights=dict(main=1.0, grad=0.5),
    train_size=(train_size, train_size),
)
max_iters = 5000
val_interval = 1000
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters),
]
default_hooks = dict(checkpoint=dict(interval=val_interval))
