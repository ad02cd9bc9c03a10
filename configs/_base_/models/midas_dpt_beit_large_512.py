# MiDaS v3.1 DPT-BEiT-L/16-512 (official model_type 'dpt_beit_large_512'): timm
# beit_large_patch16_512, hooks on blocks [5, 11, 17, 23], readout 'project', DPT
# decoder with features 256, non-negative output. Preprocessing: 'minimal' resize to
# a multiple of 32 around 512 keeping the aspect ratio, cv2 cubic, (x - 0.5) / 0.5.
# Set the weights with --cfg-options model.checkpoint=checkpoints/dpt_beit_large_512.pt
# or pass them to init_model(config, checkpoint); see docs/models.md.
model = dict(
    type='MiDaS',
    model_type='dpt_beit_large_512',
    backbone=dict(type='MiDaSBEiT', arch='beitl16_512'),
    features=256,
    non_negative=True,
    net_size=512,
    keep_aspect_ratio=True,
    checkpoint=None,
    data_preprocessor=dict(type='DepthDataPreprocessor', mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
)
