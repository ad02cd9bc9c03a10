# Appendix C.3 (Fig. 8) and Table 4's "GenPercept (Disparity) w/o" row: GenPercept, a
# diffusion-based model, as the only teacher of the main config's DAv2-L student.
# The teacher's settings are _base_/teachers/genpercept.py's (weights: genpercept_path).
_base_ = ['cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py', '../_base_/teachers/genpercept.py']

model = dict(
    teacher=dict(
        _delete_=True,
        type='GenPerceptTeacher',
        model_path={{_base_.genpercept_path}},
        processing_res={{_base_.teacher.processing_res}},
        prediction={{_base_.teacher.prediction}},
        empty_text_embedding={{_base_.genpercept_empty_text_embedding}},
        dtype={{_base_.teacher.dtype}},
    )
)
