# "Base", the previous distillation method (Depth Anything V2's, the paper's Table 3 and
# appendix C.2 "SSI baseline"): teacher and student see the whole image (the student's
# global view, no random crop, no local patches) and the loss normalizes globally
# (scale-and-shift invariant). Everything else (data, schedule, student initialization,
# L_grad, L_feat, lambda) is the main cross-context config's, so the two differ only in
# the method.
_base_ = ['../cross_context/cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(
    shared_context=False,
    local_global=False,
    loss_sc=dict(normalization='global'),
)
