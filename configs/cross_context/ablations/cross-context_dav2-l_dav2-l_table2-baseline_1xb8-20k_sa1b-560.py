# Table 2, neither mode: the baseline, teacher and student see the whole image
# (shared context without random cropping, no local crops).
_base_ = ['../cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(shared_context=False, local_global=False)

train_dataloader = dict(dataset=dict(num_samples=50000))  # the paper's 50k SA-1B ablation set
