#!/usr/bin/env bash
# Install flanx with TPU jax on every host of a TPU VM slice, from a copy of this repository in ~/flanx.
#
#   tpu_scripts/setup_tpu_vm.sh TPU_NAME ZONE
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 TPU_NAME ZONE" >&2
  exit 2
fi
tpu="$1"; zone="$2"
gcloud compute tpus tpu-vm scp --recurse --zone "$zone" --worker=all . "$tpu":~/flanx
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command \
  "cd ~/flanx && python3 -m venv .venv && .venv/bin/pip install -q -e '.[tpu]'"
