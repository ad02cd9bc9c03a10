# Cross-context distillation into a Depth Anything V2-Giant student (1.3B parameters,
# DINOv2 ViT-g encoder), teacher DAv2-L: the mission recipe and levers (bf16 autocast,
# fused SDPA, activation checkpointing, teacher micro-batches), sharded with FSDP
# through MMEngine's FlexibleRunner. 8 processes x batch 1 = the paper's batch 8.
# Sized with tools/analysis/benchmark_train_step.py (docs/performance.md), batch 1 per
# process: unsharded one process needs 25.3 GiB (the student's weights, gradients and
# AdamW state alone 18.7 GiB); FULL_SHARD over 8 processes 9.2 GiB per process (4: 11.5).
# Launch (docs/long_runs.md, "Sharded training"):
#   bash tools/dist_train.sh THIS_CONFIG 8
# No public DAv2-G weights: the student starts from random weights unless
# model.student.checkpoint names a DINOv2 ViT-g / DAv2-G file (checkpoint_scope='encoder').
_base_ = ['./cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(
    student=dict(
        _delete_=True,
        type='DepthAnythingV2',
        encoder='vitg',
        checkpoint=None,
        checkpoint_scope='encoder',
        fused_attn=True,
        with_cp=True,  # activation checkpointing (inside each FSDP unit)
    ),
)
train_dataloader = dict(batch_size=1)  # per process

# MMEngine's FlexibleRunner + FSDPStrategy: parameters, gradients and AdamW state of the
# student are split over the processes (FULL_SHARD); each ViT block is one FSDP unit,
# gathered only while it runs. The teacher stays outside FSDP (it is no submodule of
# the distiller): each process keeps its own frozen copy.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        type='MMFullyShardedDataParallel',
        use_orig_params=True,  # per-parameter lr_mult (the encoder's 0.1) keeps working
        auto_wrap_policy='vit_block_auto_wrap_policy',  # mmdistilldepth/engine/fsdp.py
    ),
    state_dict_cfg='full',  # one consolidated checkpoint, written by rank 0
)
# bf16 autocast as for DAv2-L; gradient clipping by the norm of the whole gradient over
# every process's shards (mmdistilldepth/engine/fsdp.py)
optim_wrapper = dict(type='ShardedClipOptimWrapper', dtype='bfloat16')
# FlexibleRunner's checkpoints go through the strategy (no atomic writer)
default_hooks = dict(checkpoint=dict(type='CheckpointHook'))
