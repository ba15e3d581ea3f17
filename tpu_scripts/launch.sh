#!/usr/bin/env bash
# Run one flanx command on every host of a Cloud TPU VM pod slice (same command on each host, as T5X does).
#
#   tpu_scripts/launch.sh TPU_NAME ZONE [--gin_file=... --gin.MODEL_DIR="'gs://bucket/run'" ...]
#
# Each host joins JAX's multi-controller runtime through --multihost (jax.distributed.initialize()
# discovers the coordinator on TPU VMs). MODEL_DIR must be shared storage (a GCS bucket) so that every
# host writes its shards of each checkpoint to the same place.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 TPU_NAME ZONE [flanx.train arguments...]" >&2
  exit 2
fi
tpu="$1"; zone="$2"; shift 2
args=$(printf '%q ' "$@")
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command \
  "cd ~/flanx && .venv/bin/python -m flanx.train --multihost $args"
