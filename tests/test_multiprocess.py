"""Two local processes x 4 CPU devices act as two hosts of one job (JAX's distributed runtime, gloo)."""

import json

from tests.helpers import REPO_ROOT, two_process_job
from flanx import summaries


def test_two_processes_train_and_checkpoint_together(tmp_path):
  args = ["--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{tmp_path}'", "--gin.TRAIN_STEPS=4",
          "--gin.CHECKPOINT_PERIOD=2",
          "--gin.LOG_PERIOD=1", "--gin.NUM_PARTITIONS=2", "--gin.train.show_predictions=0", "--gin.EVAL_PERIOD=4",
          "--gin.EVAL_SUITE='mmlu_direct'", "--gin.train.eval_examples=2"]
  outputs = two_process_job("flanx.train", lambda i: args, REPO_ROOT / "tasks" / "evals" / "fixtures", timeout=480)
  # One job: 8 devices in a (data 4, model 2) mesh, seen the same by both processes.
  assert "{'replica': 1, 'data': 4, 'model': 2}" in outputs[0]
  assert "trained to step 4" in outputs[0]
  rows = summaries.read_metrics(tmp_path)
  train_rows = [r for r in rows if "loss" in r]  # step 4 also has the held-out row
  assert [r["step"] for r in train_rows] == [1, 2, 3, 4]  # written once, by process 0
  assert all(r["loss"] is not None and r["loss"] > 0 for r in train_rows)
  for step in (2, 4):
    assert (tmp_path / f"checkpoint_{step}" / "params").is_dir()
  # The held-out evaluation decodes on the global mesh too (each batch a global array); process 0 writes it.
  results = json.loads((tmp_path / "eval" / "4" / "results.json").read_text())
  assert results["settings"]["mmlu_direct"]["metrics"]["count"] == 2
  assert [r["step"] for r in rows if "heldout/MMLU-Direct" in r] == [4]
