# Appendix C.2 (Fig. 7), data scaling, "Ours": the main config on a 10k-image subset of
# the training list (the first 10k of a seeded permutation: smaller subsets lie inside
# larger ones). Beside it: baseline_dav2-l_dav2-l_1xb8-20k_sa1b-10k-560.py.
_base_ = ['../cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

train_dataloader = dict(dataset=dict(num_samples=10000))
