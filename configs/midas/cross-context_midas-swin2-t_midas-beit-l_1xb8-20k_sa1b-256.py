# Table 3, teacher MiDaS-L -> student MiDaS-S, "Ours". MiDaS-S is MiDaS v3.1
# DPT-Swin2-T/16-256 (docs/models.md says why). Swin-V2's windows are built for a
# 256x256 input, so every training view is cut at 256x256 (the teacher upsamples its
# views to its own 512 size and resizes the disparity back); the encoder comes from the
# official dpt_swin2_tiny_256.pt, the decoder is trained from scratch.
_base_ = ['cross-context_midas-beit-l_midas-beit-l_1xb8-20k_sa1b-560.py']

student_checkpoint = 'checkpoints/dpt_swin2_tiny_256.pt'
train_size = 256
model = dict(
    student=dict(model_type='dpt_swin2_tiny_256', checkpoint=student_checkpoint),
    train_size=(train_size, train_size),
)

# The views in original pixels as in the DAv2 configs (shared crop 644 px to the shortest
# side, local patches of 560 px), each resized to the Swin2 input 256 x 256; the global
# view is the whole image at 256 x 256 (Swin2's fixed window layout: the aspect ratio
# cannot be kept, nothing is cropped).
train_pipeline = [
    dict(
        type='CrossContextCrops',
        global_size=(train_size, train_size),
        size_multiple=32,
        shared_side=(644, None),
        local_size=560,
        num_local=4,
        local_overlap=0.25,
    ),
    dict(
        type='PackDepthInputs',
        meta_keys=('scale_factor', 'shared_box', 'local_boxes', 'shared_clamped'),
    ),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

midas_test_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='LoadDepthAnnotation', format='nyu'),
    dict(type='ResizeForMiDaS', size=256, keep_aspect_ratio=False),
    dict(type='PackDepthInputs'),
]
test_dataloader = dict(dataset=dict(pipeline=midas_test_pipeline))
val_dataloader = dict(dataset=dict(pipeline=midas_test_pipeline))
