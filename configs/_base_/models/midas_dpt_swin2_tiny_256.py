# MiDaS v3.1 DPT-Swin2-T/16-256 (official model_type 'dpt_swin2_tiny_256'): timm
# swinv2_tiny_window16_256, hooks on the last block of each stage, DPT decoder with
# features 256, non-negative output. The network runs at 256x256 only: every image is
# squashed to that square (cv2 cubic, (x - 0.5) / 0.5) and the output resized back.
# Set the weights with --cfg-options model.checkpoint=checkpoints/dpt_swin2_tiny_256.pt
model = dict(
    type='MiDaS',
    model_type='dpt_swin2_tiny_256',
    backbone=dict(type='MiDaSSwin2', arch='swin2t16_256'),
    features=256,
    non_negative=True,
    net_size=256,
    keep_aspect_ratio=False,
    checkpoint=None,
    data_preprocessor=dict(type='DepthDataPreprocessor', mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
)
