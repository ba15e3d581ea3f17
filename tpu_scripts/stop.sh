#!/usr/bin/env bash
# Stop a running flanx job (SIGTERM on every worker: flanx agrees on a step, writes a checkpoint and exits), and
# with --delete, delete the slice(s) too.
set -euo pipefail
# shellcheck source=tpu_scripts/lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") --name NAME --zone ZONE [--num-slices N] [--delete] [--no-stop] [--dry-run]

  --delete         delete the TPU VM (or the multislice queued resource) after stopping the job
  --no-stop        skip the SIGTERM (the slice is unreachable or the job already ended)
  --num-slices N   the job is a multislice queued resource NAME
  --dry-run        print the gcloud commands, run none
USAGE
}

name="" zone="" slices=1 delete=0 stop=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --name) need_value "$1" "${2:-}"; name="$2"; shift 2 ;;
    --zone) need_value "$1" "${2:-}"; zone="$2"; shift 2 ;;
    --num-slices) need_value "$1" "${2:-}"; slices="$2"; shift 2 ;;
    --delete) delete=1; shift ;;
    --no-stop) stop=0; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
check_slice "$name" "$zone" "$slices"
[ "$stop" -eq 1 ] || [ "$delete" -eq 1 ] || die "--no-stop without --delete does nothing"

if [ "$stop" -eq 1 ]; then
  # The pid launch.sh recorded; waits until the process has written its checkpoint and exited.
  # shellcheck disable=SC2016  # runs on the workers, which expand it
  stop_cmd='if [ -f ~/flanx.pid ]; then pid=$(cat ~/flanx.pid); kill -TERM "$pid" 2>/dev/null; while kill -0 "$pid" 2>/dev/null; do sleep 5; done; fi'
  for node in $(nodes "$name" "$slices"); do
    run gcloud compute tpus tpu-vm ssh "$node" --zone "$zone" --worker=all --command "$stop_cmd"
  done
fi
if [ "$delete" -eq 1 ]; then
  if [ "$slices" -eq 1 ]; then
    run gcloud compute tpus tpu-vm delete "$name" --zone "$zone" --quiet
  else
    run gcloud compute tpus queued-resources delete "$name" --zone "$zone" --force --quiet
  fi
fi
