#!/usr/bin/env bash
# A prepared GPU check (issue 14, item 7): step time, peak memory and MFU of the mission
# config (configs/cross_context_dav2_l.py: DAv2-L student and teacher, batch 8, 560 px,
# with its levers: bf16 autocast, fused SDPA, activation checkpointing, teacher
# micro-batches of 8) on one GPU, in under five minutes, written as the JSON of
# tools/analysis/benchmark_train_step.py (flops_per_iter, peak_memory_gib, fits_gib,
# step_time_s, images_per_s, mfu at the top level).
#
# No checkpoint or data files needed: the benchmark drops the checkpoint fields (random
# weights; the student's encoder is given the teacher's, as the one shared checkpoint
# would) and makes SA-1B-sized (1500x2250) synthetic images for the real pipeline.
#
#   bash tools/analysis/gpu_check.sh [OUT_DIR] [DEVICE]   (default work_dirs/gpu_check cuda)
# Dry run of the same commands on a CPU (a tiny config):
#   CONFIG=configs/quickstart/cross_context_synthetic.py bash tools/analysis/gpu_check.sh /tmp/gc cpu
#
# Files: OUT_DIR/mission_bf16.json (the config as shipped, the figure for
# docs/performance.md), OUT_DIR/mission_bf16_no_cp.json (without activation
# checkpointing: its step-time cost), OUT_DIR/env.txt (GPU, driver, torch).
set -uo pipefail
OUT=${1:-${OUT:-work_dirs/gpu_check}}
DEVICE=${2:-cuda}
CONFIG=${CONFIG:-configs/cross_context_dav2_l.py}
ITERS=${ITERS:-5}
PYTHON=${PYTHON:-python}
cd "$(dirname "$0")/../.."
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo 'no nvidia-smi'
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
} | tee "$OUT/env.txt"

run() {  # seconds, name, extra flags
  local limit=$1 name=$2; shift 2
  echo "== $name (at most ${limit} s)"
  local start=$SECONDS
  timeout "$limit" "$PYTHON" tools/analysis/benchmark_train_step.py "$CONFIG" \
    --device "$DEVICE" --batch-size 8 --iters "$ITERS" --json "$OUT/$name.json" "$@"
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - start)) s"
  return $rc
}
# 1) as shipped (bf16): the measured figure, with the batch-4 run for fits_gib
run 170 mission_bf16 --amp bf16
main_rc=$?
# 2) without activation checkpointing: the time it costs (no fit: one batch size)
run 100 mission_bf16_no_cp --amp bf16 --no-grad-checkpoint --no-fit || true

"$PYTHON" - "$OUT" <<'PY'
import glob, json, sys
for path in sorted(glob.glob(sys.argv[1] + '/*.json')):
    r = json.load(open(path))
    print(f"{path}: step {r.get('step_time_s')} s, {r.get('images_per_s')} img/s, "
          f"peak {r['peak_memory_gib']} GiB (modelled {r.get('simulated_peak_memory_gib')}), "
          f"MFU {r.get('mfu')} of {r.get('peak_tflops')} TFLOP/s on {r.get('gpu')}, "
          f"{r['flops_per_iter'] / 1e12:.2f} TFLOP/iter, fits {r.get('fits_gib')}")
PY
exit $main_rc
