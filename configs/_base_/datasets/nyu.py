# NYUv2 labeled test split (654 images), community (Marigold) protocol.
# Layout: data/nyuv2/test/<scene>/{rgb,depth}_XXXX.png; build it from the official .mat
# with tools/dataset_converters/nyu_mat_to_layout.py (docs/datasets.md).
# ann_file='' scans the layout; Marigold's list is 'filename_list_test.txt'.
# Also the validation set: val_dataloader/val_evaluator point at the same data.
nyu_data_root = 'data/nyuv2'

nyu_test_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='LoadDepthAnnotation', format='nyu'),  # uint16 PNG, mm / 1000
    dict(type='ResizeForDepthModel', size=518, multiple=14),
    dict(type='PackDepthInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='NYUv2Dataset', data_root=nyu_data_root, ann_file='', pipeline=nyu_test_pipeline
    ),
)
test_evaluator = dict(
    type='AffineInvariantDepthMetric', benchmark='nyu', alignment='least_square_disparity'
)
val_dataloader = test_dataloader
val_evaluator = test_evaluator
