#!/usr/bin/env bash
# Install flanx with TPU jax into ~/flanx-venv on every worker of every slice: from a wheel built here
# (python -m pip wheel --no-deps -w dist .) or from a git revision. Never a copy of the working directory
# (its .venv, runs/ and data would go along).
set -euo pipefail
# shellcheck source=tpu_scripts/lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") --name NAME --zone ZONE (--wheel FILE | --revision REV [--repo URL]) [--num-slices N] [--dry-run]

  --wheel FILE      a flanx wheel (python -m pip wheel --no-deps -w dist .), copied to every worker
  --revision REV    a git commit, tag or branch of --repo, installed by pip on every worker
  --repo URL        git URL for --revision (default: this checkout's 'origin' remote)
  --num-slices N    slices of a multislice queued resource NAME (default 1)
  --dry-run         print the gcloud commands, run none
USAGE
}

name="" zone="" wheel="" revision="" repo="" slices=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --name) need_value "$1" "${2:-}"; name="$2"; shift 2 ;;
    --zone) need_value "$1" "${2:-}"; zone="$2"; shift 2 ;;
    --wheel) need_value "$1" "${2:-}"; wheel="$2"; shift 2 ;;
    --revision) need_value "$1" "${2:-}"; revision="$2"; shift 2 ;;
    --repo) need_value "$1" "${2:-}"; repo="$2"; shift 2 ;;
    --num-slices) need_value "$1" "${2:-}"; slices="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
check_slice "$name" "$zone" "$slices"
if [ -n "$wheel" ] && [ -n "$revision" ]; then die "give --wheel or --revision, not both"; fi
if [ -z "$wheel" ] && [ -z "$revision" ]; then die "missing --wheel FILE or --revision REV (see --help)"; fi
if [ -n "$wheel" ]; then
  [ -f "$wheel" ] || die "--wheel '$wheel' does not exist"
  [[ "$wheel" == *.whl ]] || die "--wheel '$wheel' is not a .whl file"
fi
if [ -n "$revision" ] && [ -z "$repo" ]; then
  repo=$(git -C "$(dirname "$0")/.." remote get-url origin 2>/dev/null) || die "no --repo given and no 'origin' remote"
fi

venv='python3 -m venv ~/flanx-venv && ~/flanx-venv/bin/pip install -q --upgrade pip'
for node in $(nodes "$name" "$slices"); do
  if [ -n "$wheel" ]; then
    remote="/tmp/$(basename "$wheel")"
    run gcloud compute tpus tpu-vm scp "$wheel" "$node:$remote" --zone "$zone" --worker=all
    spec="flanx[tpu] @ file://$remote"
  else
    spec="flanx[tpu] @ git+$repo@$revision"
  fi
  run gcloud compute tpus tpu-vm ssh "$node" --zone "$zone" --worker=all \
    --command "$venv && ~/flanx-venv/bin/pip install -q $(printf '%q' "$spec")"
done
