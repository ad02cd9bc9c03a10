# Metric distillation in the synthetic world (the quickstart of docs/metric_distill.md):
# the default job's tiny student with a metric head (sigmoid x 80 m) learns metric
# depth from the SimulatedTeacher in metric mode (depth with the teacher's blur and
# smooth error, no unknown scale, and the crop-zoom flaw of metric models: a crop
# resized up looks closer). SiLog losses keep the scale; metric_zoom=True rescales the
# teacher's local crops to the global view's scale. Validated without alignment.
_base_ = ['../cross_context/cross-context_dav2-tiny_simulated_1xb4-600it_synthetic-112.py']

max_depth = 80.0
model = dict(
    student=dict(max_depth=max_depth),
    teacher=dict(metric=True, max_depth=max_depth),
    loss_sc=dict(_delete_=True, type='SiLogLoss', variance_focus=0.5),
    loss_lg=dict(_delete_=True, type='SiLogLoss', variance_focus=0.5),
    metric_zoom=True,
)
val_evaluator = dict(alignment='none')
test_evaluator = dict(alignment='none')
