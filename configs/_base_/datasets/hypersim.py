# Hypersim (indoor, synthetic) as Depth Anything V2's metric training reads it:
# data/hypersim/ai_XXX_YYY/images/scene_cam_NN_{final_preview,geometry_hdf5}/ (or a
# list file of '<image> <depth.hdf5>' lines); ray distance -> planar depth, <= 20 m.
train_size = 518
hypersim_root = 'data/hypersim'
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='HypersimDataset',
        data_root=hypersim_root,
        max_depth=20.0,
        pipeline=[
            dict(type='RandomDepthCrop', size=train_size, multiple=14),
            dict(type='PackDepthInputs'),
        ],
    ),
)
