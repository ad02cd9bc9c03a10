# Depth Anything V2 Large (vitl): DINOv2 vitl encoder, DPT head reading blocks [4, 11, 17, 23].
# Official hyper-parameters (Depth-Anything-V2 run.py / dpt.py). Set the weights with
#   --cfg-options model.checkpoint=checkpoints/depth_anything_v2_vitl.pth
# or `model = dict(checkpoint=...)` in a leaf config; see docs/models.md for the files.
model = dict(
    type='DepthAnythingV2',
    encoder='vitl',
    features=256,
    out_channels=[256, 512, 1024, 1024],
    use_bn=False,
    use_clstoken=False,
    fused_attn=True,
    checkpoint=None,
)
# data_preprocessor: the estimator's default, DepthDataPreprocessor with the ImageNet
# mean/std of the package (one constant; override with model.data_preprocessor)
