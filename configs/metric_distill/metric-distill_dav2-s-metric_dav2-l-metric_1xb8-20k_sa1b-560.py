# Metric distillation with real models: the official metric DAv2-L (Hypersim, indoor,
# 20 m) teaches a metric DAv2-S (started from the metric DAv2-S) on unlabeled images
# (indoor photos suit an indoor teacher; for outdoor ones use the vkitti checkpoints
# and max_depth=80). The paper's recipe (views, weights) with SiLog losses, the
# crop-zoom correction, and NYUv2 validation without alignment.
_base_ = ['../cross_context/cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

student_checkpoint = 'checkpoints/depth_anything_v2_metric_hypersim_vits.pth'
teacher_checkpoint = 'checkpoints/depth_anything_v2_metric_hypersim_vitl.pth'
max_depth = 20.0
model = dict(
    student=dict(
        encoder='vits', max_depth=max_depth, checkpoint=student_checkpoint, checkpoint_scope='all'
    ),
    teacher=dict(model=dict(encoder='vitl', max_depth=max_depth), checkpoint=teacher_checkpoint),
    loss_sc=dict(_delete_=True, type='SiLogLoss', variance_focus=0.5),
    loss_lg=dict(_delete_=True, type='SiLogLoss', variance_focus=0.5),
    metric_zoom=True,
)
val_evaluator = dict(alignment='none')
test_evaluator = dict(alignment='none')
