# Your own labeled images (DepthFolderDataset, docs/custom_data.md): a folder (or list
# file) of images with a depth map beside each, e.g. img1.jpg + img1_depth.png
# (16-bit, millimetres) or img1_depth.npy (float metres). Training crops as DAv2's
# fine-tuning (RandomDepthCrop: lower-bound resize, random crop, here with a flip).
train_size = 518
depth_folder_root = 'data/my_depth/train'
depth_folder_val_root = 'data/my_depth/val'

depth_folder_train_pipeline = [
    dict(type='RandomDepthCrop', size=train_size, multiple=14, flip_prob=0.5),
    dict(type='PackDepthInputs'),
]
depth_folder_test_pipeline = [
    dict(type='ResizeForDepthModel', size=518, multiple=14),
    dict(type='PackDepthInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='DepthFolderDataset',
        data_root=depth_folder_root,
        pipeline=depth_folder_train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='DepthFolderDataset',
        data_root=depth_folder_val_root,
        test_mode=True,
        pipeline=depth_folder_test_pipeline,
    ),
)
# benchmark 'custom': every valid (positive) pixel counts, no crop
val_evaluator = dict(
    type='AffineInvariantDepthMetric', benchmark='custom', alignment='least_square_disparity'
)
test_dataloader = val_dataloader
test_evaluator = val_evaluator
