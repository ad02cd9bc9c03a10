# ScanNet validation frames, community (Marigold) protocol: uint16 PNG in mm / 1000,
# depth 1e-3..10 m, no Eigen crop; Marigold samples 800 frames
# (scannet_val_sampled_list_800_1.txt).
# Layout: data/scannet/<scene>/color/XXXXXX.jpg and data/scannet/<scene>/depth/XXXXXX.png.
scannet_data_root = 'data/scannet'

scannet_test_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='LoadDepthAnnotation', format='scannet'),  # uint16 PNG, mm / 1000
    dict(type='ResizeForDepthModel', size=518, multiple=14),
    dict(type='PackDepthInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ScanNetDataset',
        data_root=scannet_data_root,
        ann_file='',
        pipeline=scannet_test_pipeline,
    ),
)
test_evaluator = dict(
    type='AffineInvariantDepthMetric', benchmark='scannet', alignment='least_square_disparity'
)
