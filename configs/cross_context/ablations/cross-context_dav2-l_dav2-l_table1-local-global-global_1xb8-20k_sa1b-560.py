# Table 1, local-global distillation only, global normalization of L_lg.
# Changes over the main config: no L_sc term, and the shared view (still used by
# L_grad and L_feat) is the whole image.
_base_ = ['../cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(shared_context=False, loss_sc=None, loss_lg=dict(normalization='global'))
