# Marigold (Ke et al., 2024) depth through diffusers' MarigoldDepthPipeline (needs
# transformers). Its affine-invariant depth is turned into disparity by the teacher.
# Folder layout, downloads and the depth -> disparity conversion:
# docs/diffusion_teachers.md. A leaf takes the `teacher` dict from this base; set the
# paths here, or override them where the leaf puts the dict, e.g.
#   --cfg-options model.teacher.model_path=...
marigold_path = 'checkpoints/marigold-depth-v1-1'
# None: computed once from marigold_path/{text_encoder,tokenizer}; or a file made by
# tools/model_converters/save_empty_text_embedding.py
marigold_empty_text_embedding = None

teacher = dict(
    type='MarigoldTeacher',
    model_path=marigold_path,
    num_inference_steps=None,  # None: the folder's default (v1-1: 4 DDIM steps)
    ensemble_size=1,  # > 1 needs scipy and multiplies the cost
    processing_resolution=None,  # None: the folder's default (768)
    prediction=None,  # None: the folder's prediction_type ('depth')
    empty_text_embedding=marigold_empty_text_embedding,
    dtype='auto',  # float32 on CPU, bf16 (fp16 where bf16 is missing) on CUDA
    depth_offset=0.1,  # depth -> disparity: assumed far/near depth ratio 1 + 1 / 0.1 = 11
    seed=0,
    batch_size=None,
)  # views x ensemble members per forward pass; None: all at once
