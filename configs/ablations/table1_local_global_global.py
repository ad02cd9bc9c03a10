# Table 1, local-global distillation only, global normalization (no L_sc term).
_base_ = ['../cross_context_dav2_l.py']

model = dict(
    shared_context=False,
    local_global=True,
    loss_sc=None,
    loss_lg=dict(type='NormalizedL1Loss', normalization='global'))
