# KITTI Eigen test split with the annotated ground truth (652 images with GT),
# community (Marigold) protocol: KB crop to 352x1216, depth 1e-5..80 m, Eigen crop.
# Layout: data/kitti/<date>/<drive>/image_02/data/*.png and
# data/kitti/<drive>/proj_depth/groundtruth/image_02/*.png, list
# eigen_test_files_with_gt.txt; build both with tools/dataset_converters/kitti_to_layout.py.
kitti_data_root = 'data/kitti'

kitti_test_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='LoadDepthAnnotation', format='kitti'),  # uint16 PNG / 256
    dict(type='KBCrop'),  # image and GT to 352x1216
    dict(type='ResizeForDepthModel', size=518, multiple=14),
    dict(type='PackDepthInputs', meta_keys=('kb_crop',)),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='KITTIEigenDataset',
        data_root=kitti_data_root,
        ann_file='eigen_test_files_with_gt.txt',
        eval_crop='eigen',
        pipeline=kitti_test_pipeline,
    ),
)
test_evaluator = dict(
    type='AffineInvariantDepthMetric', benchmark='kitti', alignment='least_square_disparity'
)
