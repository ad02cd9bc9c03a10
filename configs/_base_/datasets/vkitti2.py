# Virtual KITTI 2 (outdoor, synthetic) as Depth Anything V2's metric training reads
# it: data/vkitti2/vkitti_2.0.3_{rgb,depth}/SceneNN/<variant>/frames/{rgb,depth}/
# Camera_N/ (or a list file); 16-bit PNG in centimetres, sky and > 80 m invalid.
train_size = 518
vkitti2_root = 'data/vkitti2'
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='VKITTI2Dataset',
        data_root=vkitti2_root,
        max_depth=80.0,
        pipeline=[
            dict(type='RandomDepthCrop', size=train_size, multiple=14),
            dict(type='PackDepthInputs'),
        ],
    ),
)
