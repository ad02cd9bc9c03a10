# Table 3, teacher DA-L -> student MiDaS-L, "Ours": the Table 5† recipe with a Depth
# Anything V2-Large teacher (ImageNet-normalized, 560 views rounded to multiples of 14
# inside the teacher) instead of the MiDaS one.
_base_ = ['cross-context_midas-beit-l_midas-beit-l_1xb8-20k_sa1b-560.py']

teacher_checkpoint = 'checkpoints/depth_anything_v2_vitl.pth'
model = dict(
    teacher=dict(
        _delete_=True,
        type='DepthAnythingTeacher',
        model=dict(type='DepthAnythingV2', encoder='vitl'),
        checkpoint=teacher_checkpoint,
    )
)
