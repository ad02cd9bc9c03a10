# Appendix C.2 (Fig. 7), data scaling, the SSI baseline on the same 50k-image subset as
# cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-50k-560.py.
_base_ = ['../../baseline/baseline_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

train_dataloader = dict(dataset=dict(num_samples=50000))
