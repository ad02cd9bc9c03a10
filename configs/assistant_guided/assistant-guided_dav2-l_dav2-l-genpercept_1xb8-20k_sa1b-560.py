# Assistant-guided distillation (Table 4): the DAv2-L primary teacher of the main
# cross-context config and a GenPercept assistant, drawn 7:3 per iteration (one
# teacher call per iteration). The primary is the main config's teacher itself.
_base_ = [
    '../cross_context/cross-context_dav2-l_dav2-l_1xb8-20k_sa1b-560.py',
    '../_base_/teachers/genpercept.py',
]

model = dict(
    teacher=dict(
        _delete_=True,
        type='AssistantGuidedTeacher',
        primary={{_base_.model.teacher}},
        assistant={{_base_.teacher}},
        mode='select',
        assistant_prob=0.3,
    )
)
