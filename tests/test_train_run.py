"""The gin-configured training run end to end: learning, MODEL_DIR contents, and exact resumption."""

import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.helpers import REPO_ROOT, gin_train
from flanx import summaries


@dataclasses.dataclass
class DemoRun:
  model_dir: pathlib.Path
  stdout: str


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
  """The `make demo` command itself (600 steps of the copy/reverse mixture), on one CPU device."""
  model_dir = tmp_path_factory.mktemp("demo")
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1", TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, "-m", "flanx.train", "--gin_file=gin/runs/demo.gin",
                           f"--gin.MODEL_DIR='{model_dir}'"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
  return DemoRun(model_dir, result.stdout)


def test_demo_learns_and_decodes_held_out_strings(demo_run):
  rows = summaries.read_metrics(demo_run.model_dir)
  assert [r["step"] for r in rows] == list(range(50, 601, 50))
  assert rows[-1]["loss"] < 0.3 * rows[0]["loss"]
  exact = re.search(r"held-out exact match ([\d.]+)% on 64 validation examples", demo_run.stdout)
  assert exact, demo_run.stdout[-2000:]
  # A random 3-8 letter string is matched by chance with probability below 26**-3 (demo runs reach 75-97%).
  assert float(exact.group(1)) > 30.0, demo_run.stdout[-2000:]
  assert re.search(r"trained to step 600: loss [\d.]+, [\d,]+ tokens/s, MFU [\d.]+%; checkpoints in ",
                   demo_run.stdout)
  # The demo's lengths hold its examples whole: no word about truncation, a zero count in the summaries.
  assert "TASK_FEATURE_LENGTHS cut" not in demo_run.stdout and rows[-1]["truncated_examples"] == 0


def test_model_dir_holds_checkpoints_config_and_metrics(demo_run):
  model_dir = demo_run.model_dir
  assert sorted(p.name for p in model_dir.glob("checkpoint_*")) == ["checkpoint_400", "checkpoint_600"]
  assert (model_dir / "checkpoint_600" / "params").is_dir()
  assert (model_dir / "checkpoint_600" / "opt_state").is_dir()
  config = (model_dir / "config.gin").read_text()
  assert "TRAIN_STEPS = 600" in config and "T5Config.emb_dim = 64" in config
  row = json.loads((model_dir / summaries.METRICS_FILE).read_text().splitlines()[-1])
  assert {"step", "loss", "learning_rate", "tokens_per_second", "seconds_per_step", "mfu"} <= set(row)
  assert row["learning_rate"] == pytest.approx(1e-2)
  assert list((model_dir / "train").glob("events.out.tfevents.*")), "TensorBoard summaries missing"


def test_restart_continues_exactly(tmp_path, capsys):
  """10 steps, a fresh process state, 10 more == 20 steps straight: same losses, same parameters. Inputs are
  longer than their length (every demo input, "copy: abc" and up, with EOS): said once, then counted at the end."""
  common = ("TRAIN_STEPS = {}", "CHECKPOINT_PERIOD = 10", "BATCH_SIZE = 8", "DROPOUT_RATE = 0.1",
            "TASK_FEATURE_LENGTHS = {{'inputs': 8, 'targets': 16}}")
  straight = gin_train(tmp_path / "straight", *(c.format(20) for c in common))
  out = capsys.readouterr().out
  first = re.findall(r"TASK_FEATURE_LENGTHS cut ([\d,]+) of the first ([\d,]+) examples read \(inputs: ([\d,]+) "
                     r"longer than 8 tokens, EOS included\); the final count comes at the end", out)
  final = re.findall(r"TASK_FEATURE_LENGTHS cut ([\d,]+) of the ([\d,]+) examples read \(inputs: ([\d,]+) longer "
                     r"than 8 tokens, EOS included\); raise them", out)
  assert len(first) == 1 and len(final) == 1, out
  assert len(set(first[0])) == 1 and len(set(final[0])) == 1 and int(final[0][0]) >= 20 * 8, out
  counts = [r["truncated_examples"] for r in summaries.read_metrics(straight.model_dir)]
  assert counts == sorted(counts) and counts[0] >= 8, counts
  gin_train(tmp_path / "resumed", *(c.format(10) for c in common))
  capsys.readouterr()
  resumed = gin_train(tmp_path / "resumed", *(c.format(20) for c in common))
  assert resumed.checkpoint_steps == [10, 20]
  assert "reading the first batch and compiling the train step for step 11" in capsys.readouterr().out
  # A rerun of the finished run says it does not train (a second `make demo`), and changes nothing.
  again = gin_train(tmp_path / "resumed", *(c.format(20) for c in common))
  out = capsys.readouterr().out
  assert "not training: the checkpoint in" in out and "already at step 20, TRAIN_STEPS is 20" in out, out
  assert "compiling the train step" not in out and again.checkpoint_steps == [10, 20]

  def losses(run):
    return [r["loss"] for r in summaries.read_metrics(run.model_dir)]

  np.testing.assert_allclose(losses(resumed), losses(straight), rtol=1e-6)
  for a, b in zip(jax.tree.leaves(straight.state.params), jax.tree.leaves(resumed.state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_initial_checkpoint_path_starts_from_other_runs_parameters(tmp_path, demo_run):
  run = gin_train(tmp_path / "ft", "TRAIN_STEPS = 1", f"INITIAL_CHECKPOINT_PATH = '{demo_run.model_dir}'")
  first = summaries.read_metrics(run.model_dir)[0]
  # Starting from the trained demo parameters, the very first loss is already low.
  assert first["loss"] < 0.5 * summaries.read_metrics(demo_run.model_dir)[0]["loss"]
