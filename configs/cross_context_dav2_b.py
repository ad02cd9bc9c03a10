# Cross-context distillation of Depth Anything V2-Base from a DAv2-Base teacher.
_base_ = ['cross_context_dav2_l.py']

student_checkpoint = 'checkpoints/depth_anything_v2_vitb.pth'
teacher_checkpoint = 'checkpoints/depth_anything_v2_vitb.pth'
model = dict(
    student=dict(encoder='vitb', checkpoint=student_checkpoint),
    teacher=dict(model=dict(encoder='vitb'), checkpoint=teacher_checkpoint))
