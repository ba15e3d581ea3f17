#!/usr/bin/env bash
# Start `flanx train` (or `flanx eval` / `flanx infer`) on every worker of every slice, in the background, logging to
# ~/flanx.log. Each worker runs the same command, as T5X does, joined into one JAX job with --multihost: the model's
# parameters are sharded over every worker's chips, and only worker 0 writes evaluation results and predictions.
set -euo pipefail
# shellcheck source=tpu_scripts/lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") --name NAME --zone ZONE [--num-slices N] [--data-dir DIR] [--env NAME=VALUE]... [--dry-run]
                 (train|eval|infer) -- FLANX_ARGS...

  train|eval|infer  the flanx command to run (installed by install.sh in ~/flanx-venv), on every worker as one job
  FLANX_ARGS        its arguments, e.g. --gin_file=runs/flan_t5_xl.gin --gin.MODEL_DIR="'gs://bucket/xl'"
                    (MODEL_DIR must be shared storage, e.g. a gs:// bucket, so every worker writes its shards there)
  --data-dir DIR    exported as FLANX_DATA_DIR on every worker (benchmark and Flan files, e.g. gs://bucket/data)
  --env NAME=VALUE  another environment variable for every worker (repeatable)
  --num-slices N    slices of a multislice queued resource NAME: sets MEGASCALE_* so the slices join over DCN
  --dry-run         print the gcloud commands, run none
Follow worker 0 with logs.sh; stop with stop.sh (SIGTERM: flanx writes a checkpoint and exits).
USAGE
}

name="" zone="" slices=1 data_dir="" command="" envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --name) need_value "$1" "${2:-}"; name="$2"; shift 2 ;;
    --zone) need_value "$1" "${2:-}"; zone="$2"; shift 2 ;;
    --num-slices) need_value "$1" "${2:-}"; slices="$2"; shift 2 ;;
    --data-dir) need_value "$1" "${2:-}"; data_dir="$2"; shift 2 ;;
    --env)
      need_value "$1" "${2:-}"
      [[ "$2" =~ ^[A-Za-z_][A-Za-z0-9_]*=.*$ ]] || die "--env '$2' is not NAME=VALUE"
      envs+=("$2"); shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    train|eval|infer) command="$1"; shift ;;
    --) shift; break ;;
    *) die "unknown argument '$1' (flanx arguments go after --; see --help)" ;;
  esac
done
check_slice "$name" "$zone" "$slices"
[ -n "$command" ] || die "missing the command: train, eval or infer (see --help)"
[ $# -gt 0 ] || die "no flanx arguments after -- (at least --gin_file=...)"

if [ -n "$data_dir" ]; then envs+=("FLANX_DATA_DIR=$data_dir"); fi
flanx_args=(--multihost "$@")  # every command: a pod-sized checkpoint only fits across all the workers' chips

coordinator=""
if [ "$slices" -gt 1 ]; then
  # Slice 0's worker 0 coordinates the DCN transfers between slices.
  if [ "$DRY_RUN" -eq 1 ]; then
    run gcloud compute tpus tpu-vm describe "$name-0" --zone "$zone" --format='value(networkEndpoints[0].ipAddress)'
    coordinator='COORDINATOR_IP'
  else
    coordinator=$(gcloud compute tpus tpu-vm describe "$name-0" --zone "$zone" \
      --format='value(networkEndpoints[0].ipAddress)')
  fi
fi

slice=0
for node in $(nodes "$name" "$slices"); do
  exports=("${envs[@]}")
  if [ "$slices" -gt 1 ]; then
    exports+=("MEGASCALE_COORDINATOR_ADDRESS=$coordinator:8080" "MEGASCALE_NUM_SLICES=$slices"
              "MEGASCALE_SLICE_ID=$slice" "MEGASCALE_PORT=8080")
  fi
  prefix=""
  if [ ${#exports[@]} -gt 0 ]; then prefix="export $(printf '%q ' "${exports[@]}"); "; fi
  remote="${prefix}cd ~ && setsid nohup ~/flanx-venv/bin/flanx $command $(printf '%q ' "${flanx_args[@]}")> ~/flanx.log 2>&1 < /dev/null & echo \$! > ~/flanx.pid"
  run gcloud compute tpus tpu-vm ssh "$node" --zone "$zone" --worker=all --command "$remote"
  slice=$((slice + 1))
done
