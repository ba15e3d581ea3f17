"""`flanx eval` and `flanx infer` as one job over two local processes x 4 CPU devices (two hosts, gloo): the
parameters are sharded over both processes' devices, both decode every batch, and only process 0 writes.
Each process gets its own output directory (as hosts with local disks would), so what process 1 wrote shows."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT, gin_train, two_process_job
from flanx import cli
import flanx.infer  # noqa: F401  registers InferConfig before any test locks gin's registry

pytestmark = pytest.mark.slow  # two processes start, each importing jax, tensorflow and seqio, and compile

FIXTURES = REPO_ROOT / "tasks" / "evals" / "fixtures"
EVAL_ARGS = ["--gin_file=gin/runs/eval.gin", "--gin.EVAL_SUITE='mmlu'", "--gin.EVAL_NUM_EXAMPLES=3",
             "--gin.EVAL_BATCH_SIZE=2", "--gin.EVAL_NUM_PARTITIONS=2",
             "--gin.EVAL_FEATURE_LENGTHS={'inputs': 256, 'targets': 8}"]
INFER_ARGS = ["--gin_file=gin/runs/infer.gin", "--gin.MIXTURE_OR_TASK_NAME='flanx_demo'", "--gin.INFER_NUM_EXAMPLES=3",
              "--gin.INFER_BATCH_SIZE=2", "--gin.INFER_BEAM_SIZE=2", "--gin.INFER_NUM_PARTITIONS=2",
              "--gin.INFER_FEATURE_LENGTHS={'inputs': 32, 'targets': 6}"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("run")
  gin_train(model_dir, "TRAIN_STEPS = 2", "CHECKPOINT_PERIOD = 2", "BATCH_SIZE = 8")
  return model_dir


def _files(directory) -> dict[str, bytes]:
  return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_eval_on_two_processes_equals_one_and_only_process_0_writes(run_dir, tmp_path, monkeypatch):
  monkeypatch.setenv("FLANX_DATA_DIR", str(FIXTURES))
  checkpoint = f"--gin.CHECKPOINT_PATH='{run_dir / 'checkpoint_2'}'"
  assert cli.main(["eval", *EVAL_ARGS, checkpoint, f"--gin.EVAL_MODEL_DIR='{tmp_path / 'one'}'"]) == 0
  outputs = two_process_job("flanx.eval",
                            lambda i: [*EVAL_ARGS, checkpoint, f"--gin.EVAL_MODEL_DIR='{tmp_path / f'p{i}'}'"],
                            FIXTURES)
  assert "flanx: evaluation of step 2 written to" in outputs[0]
  assert "written to" not in outputs[1] and "Norm. avg" not in outputs[1]
  assert not (tmp_path / "p1").exists()  # process 1 wrote nothing, not even a directory
  one, two = tmp_path / "one" / "eval" / "2", tmp_path / "p0" / "eval" / "2"
  expected, got = json.loads((one / "results.json").read_text()), json.loads((two / "results.json").read_text())
  assert got["settings"] == expected["settings"] and got["table5"] == expected["table5"]
  assert got["settings"]["mmlu_direct"]["metrics"]["count"] == 3
  predictions = [f for f in _files(one) if f.startswith("predictions/")]
  assert len(predictions) == 2 and {f: _files(two)[f] for f in predictions} == {f: _files(one)[f] for f in predictions}


def test_infer_on_two_processes_equals_one_and_only_process_0_writes(run_dir, tmp_path):
  checkpoint = f"--gin.CHECKPOINT_PATH='{run_dir}'"
  assert cli.main(["infer", *INFER_ARGS, checkpoint, f"--gin.INFER_OUTPUT_DIR='{tmp_path / 'one'}'"]) == 0
  outputs = two_process_job("flanx.infer",
                            lambda i: [*INFER_ARGS, checkpoint, f"--gin.INFER_OUTPUT_DIR='{tmp_path / f'p{i}'}'"],
                            FIXTURES)
  assert "flanx: predictions of step 2 written to" in outputs[0] and "written to" not in outputs[1]
  assert not (tmp_path / "p1").exists()
  expected = _files(tmp_path / "one")
  assert len(expected) >= 2 and _files(tmp_path / "p0") == expected


def test_multihost_where_jax_finds_no_job_is_one_line(run_dir, tmp_path):
  """--multihost off a TPU VM: JAX's auto-detection finds no coordinator; one line says what to pass instead."""
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
             FLANX_DATA_DIR=str(FIXTURES))
  env.pop("JAX_COORDINATOR_ADDRESS", None)
  out = subprocess.run([sys.executable, "-m", "flanx.eval", "--multihost", *EVAL_ARGS,
                        f"--gin.CHECKPOINT_PATH='{run_dir}'", f"--gin.EVAL_MODEL_DIR='{tmp_path / 'out'}'"],
                       cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
  errors = [line for line in out.stderr.splitlines() if "error:" in line]
  assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-3000:]
  assert len(errors) == 1 and "--multihost: JAX found no job to join" in errors[0], out.stderr[-3000:]
  assert "--coordinator_address=HOST:PORT" in errors[0]
  assert not (tmp_path / "out").exists()
