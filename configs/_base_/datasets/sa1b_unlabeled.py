# Unlabeled SA-1B-style images for distillation: a folder, a glob or a list file.
# The paper trains on 200k SA-1B images (50k for the ablations). Each image is brought
# to a square canvas; the shared crop is square, 644 px to the shorter side (paper),
# i.e. 0.575..1.0 of an 1120 px canvas; local crops are 560 px (0.5 of the canvas).
sa1b_root = 'data/sa1b/'
canvas_size = 1120
train_pipeline = [
    dict(type='ResizeCanvas', size=(canvas_size, canvas_size)),
    dict(type='CrossContextCrops', shared_scale=(644 / canvas_size, 1.0),
         shared_aspect=(1.0, 1.0), num_local=2, local_scale=(0.5, 0.5),
         local_min_overlap=0.2),
    dict(type='PackDepthInputs', meta_keys=('shared_box', 'local_boxes')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='UnlabeledImageDataset', data_root=sa1b_root, pipeline=train_pipeline))
