# Depth Anything V2 Giant (vitg): DINOv2 vitg encoder, DPT head reading blocks [9, 19, 29, 39].
# Official hyper-parameters (Depth-Anything-V2 run.py / dpt.py). Set the weights with
#   --cfg-options model.checkpoint=checkpoints/depth_anything_v2_vitg.pth
# or `model = dict(checkpoint=...)` in a leaf config; see docs/models.md for the files.
model = dict(
    type='DepthAnythingV2',
    encoder='vitg',
    features=384,
    out_channels=[1536, 1536, 1536, 1536],
    use_bn=False,
    use_clstoken=False,
    fused_attn=True,
    checkpoint=None,
    data_preprocessor=dict(
        type='DepthDataPreprocessor',
        mean=[0.485, 0.456, 0.406],
        std=[0.229, 0.224, 0.225]))
