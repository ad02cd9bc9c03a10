# Table 3, teacher MiDaS-L -> student MiDaS-S, "Base": the previous distillation method
# (whole image, global normalization); everything else as "Ours".
_base_ = ['cross-context_midas-swin2-t_midas-beit-l_1xb8-20k_sa1b-256.py']

model = dict(
    shared_context=False,
    local_global=False,
    loss_sc=dict(type='NormalizedL1Loss', normalization='global'),
)
