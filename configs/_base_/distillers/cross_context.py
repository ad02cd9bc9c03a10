# Cross-context distillation (paper section 3.2), the method itself: the two modes and
# the four loss terms with the paper's weights, L = L_sc + 0.5 L_lg + 1.0 L_feat +
# 2.0 L_grad. Every cross-context and assistant-guided config inherits it and adds the
# student, the teacher and train_size. One switch per idea:
#   shared_context  False: the shared pair is the whole image, the student's global view
#                   for teacher and student (Table 2 baseline: no random cropping)
#   local_global    False: no local crops are cut or predicted; loss_lg is then unused
#   loss_* = None   that term is off (its weight then does not matter); loss_sc=None also
#                   drops the shared pair: the teacher sees the local patches only (Table 1)
model = dict(
    type='CrossContextDistiller',
    # RGB in [0, 1] at the original resolution; a training batch padded to its largest image
    data_preprocessor=dict(type='CrossContextDataPreprocessor'),
    shared_context=True,
    local_global=True,
    loss_sc=dict(type='NormalizedL1Loss', normalization='hybrid', grouping='range'),
    loss_lg=dict(type='NormalizedL1Loss', normalization='hybrid', grouping='range'),
    loss_grad=dict(type='GradientMatchingLoss', scales=4),
    loss_feat=dict(type='FeatureAlignmentLoss', margin=0.85),
    loss_weights=dict(sc=1.0, lg=0.5, feat=1.0, grad=2.0),
    compile=False,
)
