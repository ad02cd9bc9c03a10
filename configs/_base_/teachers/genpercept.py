# GenPercept (Xu et al., 2024), the paper's diffusion assistant: one deterministic
# step of a fine-tuned Stable Diffusion 2.1 UNet, through diffusers. The paper distils
# from the disparity checkpoint ("GenPercept (Disparity)", Table 4).
# Folder layout, downloads and the empty-prompt embedding: docs/diffusion_teachers.md.
# A leaf takes the `teacher` dict from this base (e.g. the assistant of
# assistant_guided/assistant-guided_dav2-l_dav2-l-genpercept_1xb8-20k_sa1b-560.py); set
# the paths here, or override them where the leaf puts the dict, e.g.
#   --cfg-options model.teacher.assistant.model_path=...
genpercept_path = 'checkpoints/genpercept-disparity'
# None: computed once from genpercept_path/{text_encoder,tokenizer} (needs transformers);
# or a file made by tools/model_converters/save_empty_text_embedding.py, e.g.
# 'checkpoints/genpercept-disparity/empty_text_embedding.safetensors'
genpercept_empty_text_embedding = None

teacher = dict(
    type='GenPerceptTeacher',
    model_path=genpercept_path,
    processing_res=768,  # GenPercept's default longest edge
    prediction='disparity',  # 'depth' for a depth checkpoint (converted to disparity)
    empty_text_embedding=genpercept_empty_text_embedding,
    dtype='auto',  # float32 on CPU, bf16 (fp16 where bf16 is missing) on CUDA
    depth_offset=0.1,  # only for prediction='depth'
    max_batch=None,
)  # e.g. 8 to bound GPU memory on large teacher batches
