# Depth Anything V2 Small (vits): DINOv2 vits encoder, DPT head reading blocks [2, 5, 8, 11].
# Official hyper-parameters (Depth-Anything-V2 run.py / dpt.py). Set the weights with
#   --cfg-options model.checkpoint=checkpoints/depth_anything_v2_vits.pth
# or `model = dict(checkpoint=...)` in a leaf config; see docs/models.md for the files.
model = dict(
    type='DepthAnythingV2',
    encoder='vits',
    features=64,
    out_channels=[48, 96, 192, 384],
    use_bn=False,
    use_clstoken=False,
    fused_attn=True,
    checkpoint=None,
)
# data_preprocessor: the estimator's default, DepthDataPreprocessor with the ImageNet
# mean/std of the package (one constant; override with model.data_preprocessor)
