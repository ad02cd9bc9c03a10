# Assistant-guided distillation (Table 4): DAv2-L primary teacher and GenPercept
# assistant, drawn 7:3 per iteration (one teacher call per iteration).
_base_ = ['cross_context_dav2_l.py', '_base_/teachers/genpercept.py']

model = dict(
    teacher=dict(
        _delete_=True,
        type='AssistantGuidedTeacher',
        primary=dict(type='DepthAnythingTeacher',
                     model=dict(type='DepthAnythingV2', encoder='vitl'),
                     checkpoint={{_base_.teacher_checkpoint}}),
        assistant={{_base_.teacher}},
        mode='select',
        assistant_prob=0.3))
