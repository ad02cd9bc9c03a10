# Table 1, shared-context distillation only, none normalization of L_sc.
# Changes over the main config: local-global distillation off (no local crops).
_base_ = ['../cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(local_global=False, loss_sc=dict(normalization='none'))

train_dataloader = dict(dataset=dict(num_samples=50000))  # the paper's 50k SA-1B ablation set
