# Table 2, shared-context distillation on (random shared crops), local-global off.
_base_ = ['../cross_context_dav2_l.py']

model = dict(shared_context=True, local_global=False, loss_lg=None)
