#!/usr/bin/env bash
# Train with several processes (GPUs, or CPU processes without CUDA) on one or more
# machines, through torchrun and MMEngine's launcher (PyTorch DDP).
#
#   bash tools/dist_train.sh CONFIG GPUS [tools/train.py arguments ...]
#
# GPUS is the number of processes on this machine. For several machines, run the same
# command on each with:
#   NNODES       number of machines                          (default 1)
#   NODE_RANK    this machine's index, 0 .. NNODES-1          (default 0)
#   MASTER_ADDR  address of the machine with NODE_RANK=0      (default 127.0.0.1)
#   PORT         a free TCP port on that machine              (default 29500)
#   MAX_RESTARTS times torchrun restarts the group after a process dies (default 0);
#                a restarted group resumes from the last checkpoint by itself. With
#                restarts, torchrun's c10d rendezvous at MASTER_ADDR:PORT is used
#                (RDZV_ID names the job, default mmdistilldepth; NODE_RANK is unused)
# Example: bash tools/dist_train.sh configs/cross_context_dav2_l.py 8 --resume
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: bash tools/dist_train.sh CONFIG GPUS [tools/train.py arguments ...]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-29500}
MAX_RESTARTS=${MAX_RESTARTS:-0}
TOOLS="$(cd "$(dirname "$0")" && pwd)"

if [ "$MAX_RESTARTS" -gt 0 ]; then
    # restarts need the c10d rendezvous: each round gets a fresh store (the static one
    # keeps the dead group's addresses); machines get their ranks in the order they join
    RENDEZVOUS=(--rdzv-backend=c10d --rdzv-endpoint="$MASTER_ADDR:$PORT"
                --rdzv-id="${RDZV_ID:-mmdistilldepth}" --max-restarts="$MAX_RESTARTS")
else
    RENDEZVOUS=(--node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" --master_port="$PORT")
fi

PYTHONPATH="$(dirname "$TOOLS")${PYTHONPATH:+:$PYTHONPATH}" \
python -m torch.distributed.run \
    --nnodes="$NNODES" \
    "${RENDEZVOUS[@]}" \
    --nproc_per_node="$GPUS" \
    "$TOOLS/train.py" "$CONFIG" --launcher pytorch "$@"
