# Table 2, shared-context distillation on (random shared crops), local-global off.
_base_ = ['../cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(local_global=False)
