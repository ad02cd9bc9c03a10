# Table 2, both modes: the full cross-context distillation (the main config itself).
_base_ = ['../cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

train_dataloader = dict(dataset=dict(num_samples=50000))  # the paper's 50k SA-1B ablation set
