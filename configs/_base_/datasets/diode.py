# DIODE validation set (771 images, 768x1024, indoors + outdoor), community (Marigold)
# protocol: the provided depth mask as is, predictions clipped to 0.6..350 m, no crop.
# Layout: data/diode/{indoors,outdoor}/scene_*/scan_*/<name>.png, <name>_depth.npy,
# <name>_depth_mask.npy (the official val archive, extracted).
diode_data_root = 'data/diode'

diode_test_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='LoadDepthAnnotation', format='diode'),  # .npy depth + .npy mask
    dict(type='ResizeForDepthModel', size=518, multiple=14),
    dict(type='PackDepthInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='DIODEDataset', data_root=diode_data_root, ann_file='', pipeline=diode_test_pipeline
    ),
)
test_evaluator = dict(
    type='AffineInvariantDepthMetric', benchmark='diode', alignment='least_square_disparity'
)
