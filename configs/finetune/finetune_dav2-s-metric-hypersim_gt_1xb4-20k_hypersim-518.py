# Metric fine-tuning as Depth Anything V2's metric_depth (indoor): the relative DAv2-S
# encoder, a fresh metric head (sigmoid x 20 m), SiLog loss (lambda 0.5) on Hypersim,
# decoder lr 10x the encoder's. Validated on NYUv2 as metric: no alignment.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/hypersim.py',
    '../_base_/datasets/nyu.py',
    '../_base_/schedules/finetune_20k.py',
]

student_checkpoint = 'checkpoints/depth_anything_v2_vits.pth'  # the relative model
max_depth = 20.0
train_size = {{_base_.train_size}}

model = dict(
    type='SupervisedDepthEstimator',
    student=dict(
        type='DepthAnythingV2',
        encoder='vits',
        max_depth=max_depth,
        checkpoint=student_checkpoint,
        checkpoint_scope='encoder',  # DAv2 loads only 'pretrained.*' into the metric model
    ),
    loss=dict(type='SiLogLoss', variance_focus=0.5),
    train_size=(train_size, train_size),
)
val_evaluator = dict(alignment='none')
test_evaluator = dict(alignment='none')
default_hooks = dict(checkpoint=dict(interval={{_base_.val_interval}}))
