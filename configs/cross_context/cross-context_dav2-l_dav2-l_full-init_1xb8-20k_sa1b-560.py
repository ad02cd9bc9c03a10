# The student initialized with all of DAv2-Large's weights, encoder and DPT decoder
# (section 4.1 "initialized with pre-trained DAv2-Large weights"; appendix C.1: the
# model of the paper's pictures). Table 5's "Ours*" is the main config instead: encoder
# from DAv2-L, decoder from scratch (C.1: "only uses the backbone parameters").
_base_ = ['cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(student=dict(checkpoint_scope='all'))
