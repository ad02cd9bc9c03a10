# moved to configs/cross_context/ablations/ (the Table 1-2 ablations, new names)
_base_ = [
    '../cross_context/ablations/'
    'cross-context_dav2-l_dav2-l_table1-shared-context-global_1xb8-20k_sa1b-560.py'
]
