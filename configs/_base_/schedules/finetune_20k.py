# Supervised fine-tuning as Depth Anything V2's metric_depth/train.py: AdamW
# (betas 0.9/0.999, weight decay 0.01), the pretrained encoder at lr, the decoder at
# 10x lr (lr 5e-6 -> decoder 5e-5), poly decay (power 0.9) per iteration to 0.
# DAv2 counts epochs over Hypersim / Virtual KITTI 2; here: iterations.
max_iters = 20000
val_interval = 2000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='SkipNonFiniteOptimWrapper',  # a non-finite loss skips the update, logged
    optimizer=dict(type='AdamW', lr=5e-6, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'student.depth_head': dict(lr_mult=10.0)}),
)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters),
]
