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
)
# data_preprocessor: the estimator's default, DepthDataPreprocessor with the ImageNet
# mean/std of the package (one constant; override with model.data_preprocessor)
