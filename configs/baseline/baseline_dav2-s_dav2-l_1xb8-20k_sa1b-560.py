# Table 3, teacher DA-L -> student DA-S, "Base" (the previous method: whole image,
# global normalization), beside "Ours": cross_context/cross-context_dav2-s_dav2-l_...
_base_ = ['../cross_context/cross-context_dav2-s_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(
    shared_context=False,
    local_global=False,
    loss_sc=dict(normalization='global'),
)
