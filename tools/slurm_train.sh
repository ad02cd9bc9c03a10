#!/usr/bin/env bash
# Train on a Slurm cluster: one task per GPU, MMEngine's slurm launcher (PyTorch DDP).
#
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [tools/train.py arguments ...]
#
#   GPUS           total number of GPUs (tasks)             (default 8)
#   GPUS_PER_NODE  GPUs per machine                         (default 8)
#   CPUS_PER_TASK  CPU cores per task (data loading)        (default 5)
#   SRUN_ARGS      more srun options, e.g. "--requeue --time=24:00:00"
#
# A requeued job (SLURM_RESTART_COUNT > 0) continues from the work dir's last checkpoint
# by itself; pass --resume to do so on every start. On SIGTERM (preemption) and SIGUSR1
# (--signal=USR1@SECONDS, before the time limit) every task saves a checkpoint at the
# current iteration and exits; on SIGUSR1 rank 0 also requeues the job (scontrol), e.g.
#   SRUN_ARGS="--requeue --signal=USR1@120" bash tools/slurm_train.sh gpu dav2l configs/cross_context_dav2_l.py --resume
set -euo pipefail

if [ "$#" -lt 3 ]; then
    echo "usage: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [tools/train.py arguments ...]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
TOOLS="$(cd "$(dirname "$0")" && pwd)"

# shellcheck disable=SC2086  # SRUN_ARGS holds several options
PYTHONPATH="$(dirname "$TOOLS")${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    python -u "$TOOLS/train.py" "$CONFIG" --launcher slurm "$@"
