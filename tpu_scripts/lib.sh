# Shared by the tpu_scripts: argument checks, dry-run execution and the node names of a (multi)slice.
# Sourced, not run. Every script prints the exact commands it would run with --dry-run and runs none.
# shellcheck shell=bash

DRY_RUN=0

die() {
  echo "$(basename "$0"): error: $*" >&2
  exit 2
}

# run CMD ARGS...: print the command (shell-quoted, so it can be pasted), then run it unless --dry-run.
run() {
  local quoted
  quoted=$(printf '%q ' "$@")
  echo "+ ${quoted% }"
  if [ "$DRY_RUN" -eq 0 ]; then
    "$@"
  fi
}

# need_value FLAG VALUE: a flag given without a value (or with an empty one) is an error.
need_value() {
  if [ -z "${2:-}" ] || [[ "$2" == --* ]]; then
    die "$1 needs a value"
  fi
}

require() {  # require FLAG VALUE
  if [ -z "${2:-}" ]; then
    die "missing $1 (see --help)"
  fi
}

positive_int() {  # positive_int FLAG VALUE
  if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then
    die "$1 must be a positive integer, got '$2'"
  fi
}

valid_name() {  # valid_name FLAG VALUE: Cloud TPU names are lower-case letters, digits and hyphens
  if ! [[ "$2" =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]]; then
    die "$1 '$2' must be lower-case letters, digits and hyphens, starting with a letter"
  fi
}

# check_slice NAME ZONE NUM_SLICES: the --name, --zone and --num-slices every script that reaches a slice takes.
check_slice() {
  require --name "$1"; require --zone "$2"
  valid_name --name "$1"
  positive_int --num-slices "$3"
}

# nodes NAME NUM_SLICES: one TPU VM name per slice (a multislice queued resource names them NAME-0, NAME-1, ...).
nodes() {
  if [ "$2" -eq 1 ]; then
    echo "$1"
  else
    local i
    for ((i = 0; i < $2; i++)); do echo "$1-$i"; done
  fi
}
