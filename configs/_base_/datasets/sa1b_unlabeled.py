# Unlabeled SA-1B-style images for distillation: a folder, a glob or a list file.
# The paper trains on 200k SA-1B images (50k for the ablations). Each image is brought
# to a square canvas; the shared crop is square, 644 px to the shorter side (paper),
# i.e. 0.575..1.0 of an 1120 px canvas; local crops are train_size px (0.5 of the
# canvas), so the teacher sees them at their own resolution.
# train_size is set here once: a leaf's model reads it as {{_base_.train_size}}.
sa1b_root = 'data/sa1b/'
train_size = 560  # every training view (px), local crops included
canvas_size = 2 * train_size
shared_min_side = 644  # the shared crop's smallest side (px), paper section 4.1
train_pipeline = [
    dict(type='ResizeCanvas', size=(canvas_size, canvas_size)),
    dict(
        type='CrossContextCrops',
        shared_scale=(shared_min_side / canvas_size, 1.0),
        shared_aspect=(1.0, 1.0),
        num_local=2,
        local_scale=(train_size / canvas_size, train_size / canvas_size),
        local_min_overlap=0.2,
    ),
    dict(type='PackDepthInputs', meta_keys=('shared_box', 'local_boxes')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='UnlabeledImageDataset', data_root=sa1b_root, pipeline=train_pipeline),
)
