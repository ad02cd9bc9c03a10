#!/usr/bin/env bash
# A prepared GPU check (issue 14, item 7): step time, peak memory and MFU of the mission
# config at batch 8, bf16, with and without the memory levers. Under five minutes on one
# GPU; no checkpoints or data needed (random weights, synthetic SA-1B-sized images).
#   bash tools/analysis/gpu_check.sh [OUT_DIR] [DEVICE]     (DEVICE: cuda, or cpu to dry-run)
# Dry run of the same commands on a CPU:  CONFIG=configs/quickstart/cross_context_synthetic.py
#   bash tools/analysis/gpu_check.sh /tmp/gpu_check cpu
set -euo pipefail
OUT=${1:-${OUT:-work_dirs/gpu_check}}
DEVICE=${2:-cuda}
CONFIG=${CONFIG:-configs/cross_context_dav2_l.py}
ITERS=${ITERS:-3}
mkdir -p "$OUT"
run() {  # name, extra flags
  local name=$1; shift
  echo "== $name"
  timeout 240 python tools/analysis/benchmark_train_step.py "$CONFIG" --device "$DEVICE" \
    --batch-size 8 --iters "$ITERS" --json "$OUT/$name.json" "$@" \
    || echo "!! $name failed (exit $?), see above"
}
run bf16_levers --amp bf16 --sdpa --grad-checkpoint --teacher-micro-batch 8
run bf16 --amp bf16 --sdpa --no-fit
python - "$OUT" <<'PY'
import glob, json, sys
for path in sorted(glob.glob(sys.argv[1] + '/*.json')):
    r = json.load(open(path))
    print(f"{path}: step {r.get('step_time_s')} s, peak {r['peak_memory_gib']} GiB, "
          f"MFU {r.get('mfu')}, {r['flops_per_iter'] / 1e12:.1f} TFLOP/iter, "
          f"fits {r.get('fits_gib')}")
PY
