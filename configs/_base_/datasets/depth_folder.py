# Your own labeled images for fine-tuning (DepthFolderDataset, docs/custom_data.md):
# training crops as DAv2's fine-tuning (RandomDepthCrop: lower-bound resize, random
# crop, here with a flip); validation = the test set of depth_folder_test.py.
_base_ = ['depth_folder_test.py']
train_size = 518
depth_folder_root = 'data/my_depth/train'

depth_folder_train_pipeline = [
    dict(type='RandomDepthCrop', size=train_size, multiple=14, flip_prob=0.5),
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
val_dataloader = {{_base_.test_dataloader}}
val_evaluator = {{_base_.test_evaluator}}
