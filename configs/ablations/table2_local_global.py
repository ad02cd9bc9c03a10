# Table 2, local-global distillation on, shared context off (the shared view is the
# whole image, as in the baseline).
_base_ = ['../cross_context_dav2_l.py']

model = dict(shared_context=False, local_global=True)
