# Table 2, local-global distillation on, shared context off (the shared view is the
# whole image, as in the baseline).
_base_ = ['../cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(shared_context=False)

train_dataloader = dict(dataset=dict(num_samples=50000))  # the paper's 50k SA-1B ablation set
