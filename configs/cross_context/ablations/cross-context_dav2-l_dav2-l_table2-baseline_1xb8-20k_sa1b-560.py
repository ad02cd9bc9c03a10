# Table 2, neither mode: the baseline, teacher and student see the whole image
# (shared context without random cropping, no local crops).
_base_ = ['../cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(shared_context=False, local_global=False)
