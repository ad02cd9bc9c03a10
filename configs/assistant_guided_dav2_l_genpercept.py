# moved to configs/assistant_guided/assistant-guided_dav2-l_dav2-l-genpercept_1xb8-20k_sa1b-560.py
_base_ = ['assistant_guided/assistant-guided_dav2-l_dav2-l-genpercept_1xb8-20k_sa1b-560.py']
