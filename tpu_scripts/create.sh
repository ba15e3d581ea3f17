#!/usr/bin/env bash
# Create a Cloud TPU VM slice, or several slices joined over DCN (multislice) through a queued resource.
set -euo pipefail
# shellcheck source=tpu_scripts/lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") --name NAME --zone ZONE --type TYPE [--num-slices N] [--version V] [--spot] [--dry-run]

Creates TPU VM NAME of accelerator TYPE (e.g. v4-64). With --num-slices N > 1, queues N slices as one
queued resource (nodes NAME-0 .. NAME-N-1) that start together; check on it with
  gcloud compute tpus queued-resources describe NAME --zone ZONE

  --name NAME       TPU (or queued resource) name: lower-case letters, digits, hyphens
  --zone ZONE       e.g. us-central2-b (v4)
  --type TYPE       accelerator type, e.g. v4-64, v5litepod-16, v5p-128
  --num-slices N    slices over DCN (default 1: a plain TPU VM)
  --version V       TPU VM runtime (default tpu-ubuntu2204-base)
  --spot            preemptible capacity (flanx resumes from its last checkpoint; see docs/tpu.md)
  --dry-run         print the gcloud commands, run none
USAGE
}

name="" zone="" type="" slices=1 version="tpu-ubuntu2204-base" spot=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --name) need_value "$1" "${2:-}"; name="$2"; shift 2 ;;
    --zone) need_value "$1" "${2:-}"; zone="$2"; shift 2 ;;
    --type) need_value "$1" "${2:-}"; type="$2"; shift 2 ;;
    --num-slices) need_value "$1" "${2:-}"; slices="$2"; shift 2 ;;
    --version) need_value "$1" "${2:-}"; version="$2"; shift 2 ;;
    --spot) spot=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
check_slice "$name" "$zone" "$slices"
require --type "$type"
if ! [[ "$type" =~ ^v[0-9][a-z]*-[0-9]+$ ]]; then
  die "--type '$type' is not an accelerator type such as v4-64 or v5litepod-16"
fi

capacity=()
if [ "$spot" -eq 1 ]; then capacity=(--spot); fi
if [ "$slices" -eq 1 ]; then
  run gcloud compute tpus tpu-vm create "$name" --zone "$zone" --accelerator-type "$type" \
    --version "$version" "${capacity[@]}"
else
  run gcloud compute tpus queued-resources create "$name" --zone "$zone" --accelerator-type "$type" \
    --runtime-version "$version" --node-count "$slices" --node-prefix "$name" "${capacity[@]}"
fi
