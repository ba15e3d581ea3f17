"""Training metrics to TensorBoard and to MODEL_DIR/train_metrics.jsonl, plus the console progress line."""

import json
import math
import os
import pathlib
import time
from collections.abc import Mapping

import jax
import numpy as np
from clu import metric_writers
from etils import epath

METRICS_FILE = "train_metrics.jsonl"


class MetricsLogger:
  """Only process 0 writes. Each JSONL row is one `write` of a whole line, so a crash cannot split a row."""

  def __init__(self, model_dir: str | pathlib.Path, total_steps: int):
    self.model_dir = epath.Path(model_dir)
    self._remote = "://" in str(model_dir)
    self.total_steps = total_steps
    self.is_writer = jax.process_index() == 0
    self._tensorboard = metric_writers.create_default_writer(
        str(self.model_dir / "train"), just_logging=not self.is_writer, asynchronous=False)
    self._start = time.monotonic()

  def write(self, step: int, metrics: Mapping[str, float]) -> None:
    row = {"step": int(step), **{k: _plain(v) for k, v in metrics.items()}}
    if not self.is_writer:
      return
    self._tensorboard.write_scalars(step, {k: v for k, v in row.items() if k != "step" and v is not None})
    path = self.model_dir / METRICS_FILE
    line = json.dumps(row) + "\n"
    if self._remote:  # object stores cannot append: rewrite the whole (small) file in one write
      path.write_text((path.read_text() if path.exists() else "") + line)
      return
    with open(path, "a", encoding="utf-8") as f:
      f.write(line)
      f.flush()
      os.fsync(f.fileno())

  def drop_after(self, step: int) -> None:
    """Removes rows of steps after `step`: a resumed run redoes them, and would otherwise log them twice."""
    path = self.model_dir / METRICS_FILE
    if not self.is_writer or not path.exists():
      return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
    if len(kept) == len(lines):
      return
    tmp = path.parent / f".{METRICS_FILE}.tmp{os.getpid()}"
    tmp.write_text("".join(kept), encoding="utf-8")
    tmp.replace(path)

  def progress(self, step: int, metrics: Mapping[str, float], first_step: int) -> None:
    if not self.is_writer:
      return
    elapsed = time.monotonic() - self._start
    done = max(step - first_step, 1)
    eta = elapsed / done * max(self.total_steps - step, 0)
    print(f"step {step}/{self.total_steps}  loss {metrics['loss']:.4f}  "
          f"{metrics.get('tokens_per_second', 0.0):,.0f} tok/s  {metrics.get('seconds_per_step', 0.0):.3f} s/step  "
          f"eta {_clock(eta)}", flush=True)

  def close(self) -> None:
    self._tensorboard.flush()
    self._tensorboard.close()


def _plain(value):
  value = float(np.asarray(value))
  return value if math.isfinite(value) else None


def _clock(seconds: float) -> str:
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def read_metrics(model_dir: str | pathlib.Path) -> list[dict]:
  path = epath.Path(model_dir) / METRICS_FILE
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
