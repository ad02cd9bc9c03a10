# Table 1, shared-context distillation only, hybrid normalization.
_base_ = ['../cross_context_dav2_l.py']

model = dict(
    shared_context=True,
    local_global=False,
    loss_sc=dict(type='NormalizedL1Loss', normalization='hybrid'),
    loss_lg=None)
