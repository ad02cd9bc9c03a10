# Cross-context distillation of Depth Anything V2-Base from a DAv2-Base teacher.
_base_ = ['cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

student_checkpoint = 'checkpoints/depth_anything_v2_vitb.pth'
teacher_checkpoint = 'checkpoints/depth_anything_v2_vitb.pth'
model = dict(
    student=dict(encoder='vitb', checkpoint=student_checkpoint),
    teacher=dict(model=dict(encoder='vitb'), checkpoint=teacher_checkpoint),
)
