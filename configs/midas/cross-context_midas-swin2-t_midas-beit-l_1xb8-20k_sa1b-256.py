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

# The views at the student's 256 px, in the same fractions of the canvas as the 560 px
# recipe (shared crop 0.575..1.0 of the canvas, local crops half the canvas side).
canvas_size = 2 * train_size
train_pipeline = [
    dict(type='ResizeCanvas', size=(canvas_size, canvas_size)),
    dict(
        type='CrossContextCrops',
        shared_scale=(644 / 1120, 1.0),
        shared_aspect=(1.0, 1.0),
        num_local=2,
        local_scale=(train_size / canvas_size, train_size / canvas_size),
        local_min_overlap=0.2,
    ),
    dict(type='PackDepthInputs', meta_keys=('shared_box', 'local_boxes')),
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
