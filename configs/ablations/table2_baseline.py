# Table 2, neither mode: the baseline, teacher and student see the whole image
# (shared context without random cropping).
_base_ = ['../cross_context_dav2_l.py']

model = dict(shared_context=False, local_global=False, loss_lg=None)
