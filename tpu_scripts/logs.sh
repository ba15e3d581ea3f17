#!/usr/bin/env bash
# Stream worker 0's log (~/flanx.log) of a slice (slice 0 of a multislice job). Ctrl-C stops streaming only.
set -euo pipefail
# shellcheck source=tpu_scripts/lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") --name NAME --zone ZONE [--num-slices N] [--worker W] [--no-follow] [--dry-run]

  --worker W     which worker's log (default 0: the one that prints metrics)
  --num-slices N the job is a multislice queued resource NAME (reads slice 0, NAME-0)
  --no-follow    print the log so far and exit
  --dry-run      print the gcloud command, run none
USAGE
}

name="" zone="" slices=1 worker=0 follow=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --name) need_value "$1" "${2:-}"; name="$2"; shift 2 ;;
    --zone) need_value "$1" "${2:-}"; zone="$2"; shift 2 ;;
    --num-slices) need_value "$1" "${2:-}"; slices="$2"; shift 2 ;;
    --worker) need_value "$1" "${2:-}"; worker="$2"; shift 2 ;;
    --no-follow) follow=0; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
check_slice "$name" "$zone" "$slices"
[[ "$worker" =~ ^[0-9]+$ ]] || die "--worker must be a worker number (0, 1, ...), got '$worker'"

node=$(nodes "$name" "$slices" | head -n 1)
tail_cmd='tail -n +1 ~/flanx.log'
if [ "$follow" -eq 1 ]; then tail_cmd='tail -n +1 -F ~/flanx.log'; fi
run gcloud compute tpus tpu-vm ssh "$node" --zone "$zone" --worker="$worker" --command "$tail_cmd"
