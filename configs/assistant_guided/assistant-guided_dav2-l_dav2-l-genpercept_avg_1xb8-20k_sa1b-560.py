# Table 4, "D+G Avg.": both teachers run on every view; the assistant is aligned to the
# primary per image (least squares) and the two are blended per pixel by agreement.
# The "Select." row (7:3 draws) is assistant-guided_dav2-l_dav2-l-genpercept_1xb8-20k_sa1b-560.py.
_base_ = ['assistant-guided_dav2-l_dav2-l-genpercept_1xb8-20k_sa1b-560.py']

model = dict(teacher=dict(mode='avg'))
