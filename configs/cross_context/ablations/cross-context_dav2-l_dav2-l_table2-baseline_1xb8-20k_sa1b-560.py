# Table 2, neither mode: the baseline, "a simple shared-context approach with no random
# cropping". Teacher and student both get the student's global view of the whole image
# (aspect kept, area ~ 560^2, sides multiples of 14; padding in a batch masked), with the
# same hybrid L_sc, L_grad and L_feat as the other rows; no local patches.
_base_ = ['../cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(shared_context=False, local_global=False)

train_dataloader = dict(dataset=dict(num_samples=50000))  # the paper's 50k SA-1B ablation set
