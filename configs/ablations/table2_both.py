# Table 2, both modes: the full cross-context distillation (same as the main config).
_base_ = ['../cross_context_dav2_l.py']
