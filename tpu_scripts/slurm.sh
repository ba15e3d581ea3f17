#!/usr/bin/env bash
# Submit `flanx train` (or eval) to a SLURM GPU cluster: one process per node, each seeing its node's GPUs,
# joined into one JAX job through flanx's --coordinator_address/--num_processes/--process_id, which this
# batch script derives from SLURM's environment (first node of the allocation coordinates).
set -euo pipefail
# shellcheck source=tpu_scripts/lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") --nodes N --gpus-per-node G [--partition P] [--time HH:MM:SS] [--venv DIR] [--port PORT]
                [--data-dir DIR] [--env NAME=VALUE]... [--job-name NAME] [--dry-run] (train|eval|infer) -- FLANX_ARGS...

  --nodes N          nodes to allocate (one flanx process each)
  --gpus-per-node G  GPUs per node (all visible to that node's process)
  --partition P      SLURM partition (default: the cluster's default)
  --time T           time limit (default 24:00:00)
  --venv DIR         virtual environment with flanx[gpu] on shared storage (default \$PWD/.venv)
  --port PORT        coordinator port on the first node (default 12355)
  --data-dir DIR     exported as FLANX_DATA_DIR on every node
  --env NAME=VALUE   another environment variable for every node (repeatable)
  --dry-run          print the batch script and the sbatch command, submit nothing
USAGE
}

nodes_n="" gpus="" partition="" time_limit="24:00:00" venv="$PWD/.venv" port=12355 data_dir="" job="flanx"
command="" envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --nodes) need_value "$1" "${2:-}"; nodes_n="$2"; shift 2 ;;
    --gpus-per-node) need_value "$1" "${2:-}"; gpus="$2"; shift 2 ;;
    --partition) need_value "$1" "${2:-}"; partition="$2"; shift 2 ;;
    --time) need_value "$1" "${2:-}"; time_limit="$2"; shift 2 ;;
    --venv) need_value "$1" "${2:-}"; venv="$2"; shift 2 ;;
    --port) need_value "$1" "${2:-}"; port="$2"; shift 2 ;;
    --data-dir) need_value "$1" "${2:-}"; data_dir="$2"; shift 2 ;;
    --job-name) need_value "$1" "${2:-}"; job="$2"; shift 2 ;;
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
require --nodes "$nodes_n"; require --gpus-per-node "$gpus"
positive_int --nodes "$nodes_n"; positive_int --gpus-per-node "$gpus"; positive_int --port "$port"
[ "$port" -le 65535 ] || die "--port must be at most 65535, got '$port'"
[[ "$time_limit" =~ ^([0-9]+-)?[0-9]+(:[0-9]{2}){0,2}$ ]] || die "--time '$time_limit' is not a SLURM time such as 24:00:00"
[ -n "$command" ] || die "missing the command: train, eval or infer (see --help)"
[ $# -gt 0 ] || die "no flanx arguments after -- (at least --gin_file=...)"
if [ -n "$data_dir" ]; then envs+=("FLANX_DATA_DIR=$data_dir"); fi

flanx_args=("$@")
# train and eval alike: one job, the model's parameters sharded over every node's GPUs.
# Single quotes: SLURM_* are expanded by each task on its own node, not here.
# shellcheck disable=SC2016
distributed='--coordinator_address="$FLANX_COORDINATOR" --num_processes="$SLURM_NTASKS" --process_id="$SLURM_PROCID" '

script=$(
  echo "#!/usr/bin/env bash"
  echo "#SBATCH --job-name=$job"
  echo "#SBATCH --nodes=$nodes_n"
  echo "#SBATCH --ntasks-per-node=1"
  echo "#SBATCH --gpus-per-node=$gpus"
  echo "#SBATCH --time=$time_limit"
  echo "#SBATCH --output=$job-%j.log"
  if [ -n "$partition" ]; then echo "#SBATCH --partition=$partition"; fi
  echo "set -euo pipefail"
  for e in "${envs[@]}"; do echo "export $(printf '%q' "$e")"; done
  # shellcheck disable=SC2016  # expanded by the batch script on the first node, not here
  echo 'FLANX_COORDINATOR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1):'"$port"'"'
  echo "export FLANX_COORDINATOR"
  echo "# SIGTERM (scancel, preemption) reaches every task: flanx writes a checkpoint and exits; resubmit to resume."
  echo "srun --kill-on-bad-exit=1 bash -c $(printf '%q' "exec $(printf '%q' "$venv/bin/flanx") $command $distributed$(printf '%q ' "${flanx_args[@]}")")"
)

while IFS= read -r line; do echo "| $line"; done <<< "$script"
if [ "$DRY_RUN" -eq 1 ]; then
  echo "+ sbatch  # with the script above on stdin"
else
  echo "$script" | sbatch
fi
