# Cross-context distillation of Depth Anything V2-Small from a DAv2-Small teacher.
_base_ = ['cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

student_checkpoint = 'checkpoints/depth_anything_v2_vits.pth'
teacher_checkpoint = 'checkpoints/depth_anything_v2_vits.pth'
model = dict(
    student=dict(encoder='vits', checkpoint=student_checkpoint),
    teacher=dict(model=dict(encoder='vits'), checkpoint=teacher_checkpoint),
)
