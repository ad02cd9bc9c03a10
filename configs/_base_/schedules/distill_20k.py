# The paper's schedule (section 4.1): 20,000 iterations, batch 8, AdamW;
# decoder lr 5e-5 as for Depth Anything V2, the pretrained encoder 10x lower.
max_iters = 20000
# validation and checkpoints every val_interval iterations: a leaf's checkpoint hook
# reads it as {{_base_.val_interval}} (save_best needs a validation at each save)
val_interval = 2000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='SkipNonFiniteOptimWrapper',  # a non-finite loss skips the update, logged
    optimizer=dict(type='AdamW', lr=5e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'student.pretrained': dict(lr_mult=0.1)}),
    clip_grad=dict(max_norm=1.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=500),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=500, end=max_iters),
]
