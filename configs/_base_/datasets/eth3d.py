# ETH3D high-res multi-view DSLR training images (454, 4032x6048), community (Marigold)
# protocol: depth 1e-5..inf, no crop, scale/shift fitted on a width-subsampled copy
# (alignment_max_res 1024, the benchmark's default).
# Layout: data/eth3d/rgb/<scene>/images/dslr_images/*.JPG and
# data/eth3d/depth/<scene>_dslr_depth/<scene>/ground_truth_depth/dslr_images/*.JPG (raw float32).
eth3d_data_root = 'data/eth3d'

eth3d_test_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='LoadDepthAnnotation', format='eth3d'),  # raw float32, image's HxW
    dict(type='ResizeForDepthModel', size=518, multiple=14),
    dict(type='PackDepthInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ETH3DDataset', data_root=eth3d_data_root, ann_file='', pipeline=eth3d_test_pipeline
    ),
)
test_evaluator = dict(
    type='AffineInvariantDepthMetric', benchmark='eth3d', alignment='least_square_disparity'
)
