# Your own labeled test images (DepthFolderDataset, docs/custom_data.md): a folder (or
# list file) of images with a depth map beside each, e.g. img1.jpg + img1_depth.png
# (16-bit, millimetres) or img1_depth.npy (float metres). Evaluated under the
# benchmark 'custom' (every valid, positive pixel counts; no crop); a sample without
# a usable depth map is kept and counted in num_invalid.
depth_folder_val_root = 'data/my_depth/val'
depth_folder_test_pipeline = [
    dict(type='ResizeForDepthModel', size=518, multiple=14),
    dict(type='PackDepthInputs'),
]
test_dataloader = dict(
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
# relative models: the default alignment; metric models: alignment='none'
# (tools/test.py --alignment none)
test_evaluator = dict(
    type='AffineInvariantDepthMetric', benchmark='custom', alignment='least_square_disparity'
)
