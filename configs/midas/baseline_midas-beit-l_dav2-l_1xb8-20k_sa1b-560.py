# Table 3, teacher DA-L -> student MiDaS-L, "Base": the previous distillation method
# (Depth Anything V2's): teacher and student see the whole image (no shared random crop,
# no local crops) and the loss normalizes each map globally (median / mean absolute
# deviation of the image). Everything else as "Ours".
_base_ = ['cross-context_midas-beit-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(
    shared_context=False,
    local_global=False,
    loss_sc=dict(type='NormalizedL1Loss', normalization='global'),
)
