# Cross-architecture distillation (Table 3): a DAv2-Small student from a DAv2-Large teacher.
_base_ = ['cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

student_checkpoint = 'checkpoints/depth_anything_v2_vits.pth'
model = dict(student=dict(encoder='vits', checkpoint=student_checkpoint))
