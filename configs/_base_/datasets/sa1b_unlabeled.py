# Unlabeled SA-1B-style images for distillation: a folder, a glob or a list file.
# The paper trains on 200k SA-1B images (50k for the ablations). Every view is drawn
# in the image's own pixels (paper, section 4.1; docs/method.md):
# - shared context: a square crop, side uniform in [644 px, the shortest side], resized
#   to train_size for teacher and student (a shorter image takes its whole short side,
#   metainfo shared_clamped=True);
# - local-global: the student sees the whole image (aspect ratio kept, area near
#   train_size^2, sides multiples of 14); the teacher sees num_local=4 overlapping
#   train_size x train_size patches (a 2x2 grid, stride 420 px = 25% overlap) at 1:1,
#   the grid at a random place in the image.
# The images stay at their original resolution up to the device, where the distiller
# cuts every view (CrossContextDataPreprocessor pads a batch to its largest image).
# train_size is set here once: a leaf's model reads it as {{_base_.train_size}}.
sa1b_root = 'data/sa1b/'
train_size = 560  # every training view (px), local patches included
shared_min_side = 644  # the shared crop's smallest side (original px), paper section 4.1
train_pipeline = [
    dict(
        type='CrossContextCrops',
        global_size=train_size,  # the student's whole-image view: area ~ 560 x 560
        size_multiple=14,  # ViT patch size
        shared_side=(shared_min_side, None),  # None: the image's shortest side
        local_size=train_size,  # local patches of 560 original px, seen at 1:1
        num_local=4,
        local_overlap=0.25,
        max_side=None,  # no cap on the decoded size (see docs/method.md)
    ),
    dict(
        type='PackDepthInputs',
        meta_keys=('scale_factor', 'shared_box', 'local_boxes', 'shared_clamped'),
    ),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='UnlabeledImageDataset', data_root=sa1b_root, pipeline=train_pipeline),
)
