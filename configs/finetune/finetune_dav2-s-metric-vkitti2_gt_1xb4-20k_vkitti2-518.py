# Metric fine-tuning as Depth Anything V2's metric_depth (outdoor): the relative DAv2-S
# encoder, a fresh metric head (sigmoid x 80 m), SiLog loss (lambda 0.5) on Virtual
# KITTI 2, decoder lr 10x the encoder's. Validated on KITTI (Eigen) as metric.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/vkitti2.py',
    '../_base_/datasets/kitti.py',
    '../_base_/schedules/finetune_20k.py',
]

student_checkpoint = 'checkpoints/depth_anything_v2_vits.pth'  # the relative model
max_depth = 80.0
train_size = {{_base_.train_size}}

model = dict(
    type='SupervisedDepthEstimator',
    student=dict(
        type='DepthAnythingV2',
        encoder='vits',
        max_depth=max_depth,
        checkpoint=student_checkpoint,
        checkpoint_scope='encoder',
    ),
    loss=dict(type='SiLogLoss', variance_focus=0.5),
    train_size=(train_size, train_size),
)
val_dataloader = {{_base_.test_dataloader}}
val_evaluator = dict(type='AffineInvariantDepthMetric', benchmark='kitti', alignment='none')
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval={{_base_.val_interval}}))
