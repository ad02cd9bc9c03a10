# The default job: cross-context distillation in the synthetic world, on a CPU
# (tiny DAv2-style student, SimulatedTeacher, SyntheticScenes); the config itself is
# configs/cross_context/cross-context_dav2-tiny_simulated_1xb4-600it_synthetic-112.py
_base_ = ['../cross_context/cross-context_dav2-tiny_simulated_1xb4-600it_synthetic-112.py']
