default_scope = 'mmdistilldepth'
# MMEngine's Runner, with the config and environment kept out of the console (they go
# to work_dir/<config name>.py and the log file): mmdistilldepth/engine/runner/runner.py
runner_type = 'DepthRunner'

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py and tools/test.py switch to 'gloo' when there is no CUDA
    dist_cfg=dict(backend='nccl'),
)

# DDP: every trainable parameter gets a gradient in every iteration (the two parameter
# sets Depth Anything V2 keeps only for loading official checkpoints are frozen;
# tests/test_configs/test_all_configs.py checks it for every config), so DDP need not
# search the graph for unused parameters.
find_unused_parameters = False

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # CheckpointHook whose checkpoints and last_checkpoint pointer are written atomically
    checkpoint=dict(
        type='AtomicCheckpointHook',
        by_epoch=False,
        interval=1000,
        max_keep_ckpts=2,
        save_best='abs_rel',
        rule='less',
    ),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

# TensorBoard event files too when `tensorboard` is installed (skipped, with a log line,
# when it is not): tensorboard --logdir work_dirs
vis_backends = [dict(type='LocalVisBackend'), dict(type='OptionalTensorboardVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False, window_size=50)
# tools/train.py --auto-scale-lr: lr *= (GPUs x batch per GPU) / base_batch_size;
# 8 is the paper's batch (section 4.1)
auto_scale_lr = dict(enable=False, base_batch_size=8)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
