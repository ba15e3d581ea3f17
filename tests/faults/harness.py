"""Real training processes for the fault suite: start the demo trainer, watch its metrics, inject a fault.

Every case records what it injected with the `ledger` fixture; conftest.py prints the table at the end.
"""

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np

from flanx import checkpoints
from flanx.supervisor import PEER_LOST_EXIT_CODE  # noqa: F401  (used by the tests)
from tests.helpers import REPO_ROOT, free_port

# Few steps, tiny batches, a metrics row per step: each run costs little more than start-up and one compile.
FAST = ("--gin.BATCH_SIZE=8", "--gin.LOG_PERIOD=1", "--gin.train.show_predictions=0", "--gin.train.peak_flops=1e12",
        "--gin.TASK_FEATURE_LENGTHS={'inputs': 16, 'targets': 8}")


@dataclasses.dataclass
class Fault:
  case: str
  fault: str
  survived: bool
  steps_lost: int




def poison_steps(monkeypatch, *steps: int) -> None:
  """Makes the loss of these steps (1-based, as logged) of an in-process run from step 0 NaN: the training
  stream's batches for them get NaN loss weights, which make the normaliser, the loss and every gradient NaN.
  The training loop has no hook for this; the stream itself is replaced."""
  from flanx.input import pipeline
  real = pipeline.Input.__next__
  inputs = []

  def next_batch(self):
    if not inputs:
      inputs.append(self)  # train.train builds the training input first; validation inputs come later
    batch = real(self)
    return _poisoned(batch) if self is inputs[0] and self._consumed in steps else batch
  monkeypatch.setattr(pipeline.Input, "__next__", next_batch)


def _poisoned(batch: dict) -> dict:
  weights = batch["decoder_loss_weights"]
  # Computed under jit into the weights' own sharding, so it works across processes too.
  nan = jax.jit(lambda w: jax.numpy.full(w.shape, jax.numpy.nan, jax.numpy.float32), out_shardings=weights.sharding)
  return {**batch, "decoder_loss_weights": nan(weights)}


def start(model_dir: pathlib.Path, *bindings: str, devices: int = 1, extra_args=()) -> subprocess.Popen:
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", TF_CPP_MIN_LOG_LEVEL="3",
             JAX_PLATFORMS="cpu")
  args = [sys.executable, "-m", "flanx.train", "--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{model_dir}'", *FAST,
          *(f"--gin.{b}" for b in bindings), *extra_args]
  return subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def start_pair(model_dir: pathlib.Path, *bindings: str) -> list[subprocess.Popen]:
  """Two processes of one job on this machine (2 CPU devices each), joined through a fresh local port."""
  port = free_port()
  return [start(model_dir, *bindings, devices=2,
                extra_args=(f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", f"--process_id={i}"))
          for i in range(2)]


def run_pair(model_dir: pathlib.Path, *bindings: str) -> str:
  procs = start_pair(model_dir, *bindings)
  outs = [finish(p) for p in procs]
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-3000:]
  return outs[0]


def final_params(model_dir: pathlib.Path) -> dict:
  """The newest checkpoint's parameters as host numpy arrays."""
  return checkpoints.load_params_numpy(model_dir)


def assert_bitwise_equal(params, reference) -> None:
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(params), jax.tree.leaves(reference), strict=True):
    assert a.dtype == b.dtype and np.array_equal(a, b), f"parameter {jax.tree_util.keystr(path)} differs"


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
  try:
    return proc.communicate(timeout=timeout)[0]
  finally:
    proc.kill()


def run(model_dir: pathlib.Path, *bindings: str) -> str:
  proc = start(model_dir, *bindings)
  out = finish(proc)
  assert proc.returncode == 0, out[-3000:]
  return out


def rows(model_dir: pathlib.Path) -> list[dict]:
  path = model_dir / "train_metrics.jsonl"
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def losses(model_dir: pathlib.Path) -> dict[int, float]:
  """step -> loss; a step logged again after a restart keeps its latest value."""
  return {r["step"]: r["loss"] for r in rows(model_dir)}


def wait_for_step(proc: subprocess.Popen, model_dir: pathlib.Path, step: int, timeout: float = 240) -> None:
  """Blocks until train_metrics.jsonl has a row for `step` (or later)."""
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if any(r["step"] >= step for r in rows(model_dir)):
      return
    if proc.poll() is not None:
      raise AssertionError(f"trainer exited ({proc.returncode}) before step {step}:\n{finish(proc)[-3000:]}")
    time.sleep(0.05)
  raise AssertionError(f"no step {step} within {timeout}s")


def checkpoint_steps(model_dir: pathlib.Path) -> list[int]:
  return sorted(int(p.name.split("_")[1]) for p in model_dir.glob("checkpoint_*") if p.name.split("_")[1].isdigit())


def signal_at(model_dir: pathlib.Path, step: int, sig: int, *bindings: str) -> tuple[subprocess.Popen, str]:
  """Starts a run, sends `sig` once step `step` is logged, returns the process and its output."""
  proc = start(model_dir, *bindings)
  wait_for_step(proc, model_dir, step)
  proc.send_signal(sig)
  return proc, finish(proc)


KILL = signal.SIGKILL
TERM = signal.SIGTERM
