"""Two local processes x 4 CPU devices act as two hosts of one job (JAX's distributed runtime, gloo)."""

import os
import socket
import subprocess
import sys

from tests.helpers import REPO_ROOT
from flanx import summaries


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_train_and_checkpoint_together(tmp_path):
  port = _free_port()
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", TF_CPP_MIN_LOG_LEVEL="3",
             JAX_PLATFORMS="cpu")
  args = [sys.executable, "-m", "flanx.train", "--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{tmp_path}'",
          "--gin.TRAIN_STEPS=4", "--gin.CHECKPOINT_PERIOD=2", "--gin.LOG_PERIOD=1", "--gin.NUM_PARTITIONS=2",
          "--gin.train.show_predictions=0", f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2"]
  procs = [subprocess.Popen(args + [f"--process_id={i}"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True) for i in range(2)]
  outputs = []
  try:
    for p in procs:
      outputs.append(p.communicate(timeout=480)[0])
  finally:
    for p in procs:
      p.kill()
  for i, (p, out) in enumerate(zip(procs, outputs)):
    assert p.returncode == 0, f"process {i} failed:\n{out[-3000:]}"
  # One job: 8 devices in a (data 4, model 2) mesh, seen the same by both processes.
  assert "{'replica': 1, 'data': 4, 'model': 2}" in outputs[0]
  assert "trained to step 4" in outputs[0]
  rows = summaries.read_metrics(tmp_path)
  assert [r["step"] for r in rows] == [1, 2, 3, 4]  # written once, by process 0
  assert all(r["loss"] is not None and r["loss"] > 0 for r in rows)
  for step in (2, 4):
    assert (tmp_path / f"checkpoint_{step}" / "params").is_dir()
