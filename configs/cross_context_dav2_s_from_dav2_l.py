# moved to configs/cross_context/cross-context_dav2-s_dav2-l_1xb8-20k_sa1b-560.py
_base_ = ['cross_context/cross-context_dav2-s_dav2-l_1xb8-20k_sa1b-560.py']
