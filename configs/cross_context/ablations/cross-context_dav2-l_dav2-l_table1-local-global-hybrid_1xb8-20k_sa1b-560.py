# Table 1, local-global distillation only, hybrid normalization of L_lg.
# Changes over the main config: no shared pair at all (loss_sc=None), so the teacher
# sees only the N local patches (batch = B x N); L_grad is computed on the local pairs
# and L_feat on the student's tokens inside the local patches (docs/method.md).
_base_ = ['../cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py']

model = dict(loss_sc=None, loss_lg=dict(normalization='hybrid'))

train_dataloader = dict(dataset=dict(num_samples=50000))  # the paper's 50k SA-1B ablation set
