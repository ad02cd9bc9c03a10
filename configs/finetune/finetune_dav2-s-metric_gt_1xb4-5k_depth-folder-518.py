# Metric fine-tuning on your own labeled images (DepthFolderDataset), starting from
# the official DAv2-S metric model (Hypersim, 20 m; use the vkitti one with 80 m
# outdoors): SiLog (lambda 0.5), evaluated without alignment. docs/custom_data.md.
_base_ = ['finetune_dav2-s_gt_1xb4-5k_depth-folder-518.py']

student_checkpoint = 'checkpoints/depth_anything_v2_metric_hypersim_vits.pth'
max_depth = 20.0
model = dict(
    student=dict(max_depth=max_depth, checkpoint=student_checkpoint),
    loss=dict(_delete_=True, type='SiLogLoss', variance_focus=0.5),
    loss_grad=None,
)
train_dataloader = dict(dataset=dict(max_depth=max_depth))
val_evaluator = dict(alignment='none')
test_evaluator = dict(alignment='none')
