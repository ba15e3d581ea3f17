"""The best checkpoint by held-out evaluation, kept apart from the newest-K rotation.

The paper chose each model's step by evaluating held-out tasks periodically during finetuning. With
EVAL_PERIOD and EVAL_SUITE set, training offers every evaluated step here: a step whose held-out normalised
average beats the best so far is saved to `MODEL_DIR/best/checkpoint_<step>/` (the trainer's layout, so `flanx
eval`, `infer` and INITIAL_CHECKPOINT_PATH read it like any checkpoint; KEEP_CHECKPOINTS' rotation of
`MODEL_DIR/checkpoint_*` never deletes it), and `MODEL_DIR/best/best.json` names it: step, score, the columns the
average was taken over, and every step's score. `flanx eval` prints the best step among the evaluations in
`MODEL_DIR/eval/` (`report`).
"""

import dataclasses
import json
import os
import pathlib

import jax

from flanx import checkpoints
from flanx.evaluation import results as results_lib
from flanx.evaluation.suite import NORM_AVG_COLUMN

BEST_DIR = "best"
BEST_JSON = "best.json"
CONFIG_GIN = "config.gin"  # what training writes into MODEL_DIR (gin_config.write_operative_config)


@dataclasses.dataclass(frozen=True)
class Best:
  step: int
  score: float
  over: tuple[str, ...] = ()  # the settings the normalised average is taken over


def read(model_dir: str | os.PathLike) -> dict | None:
  """MODEL_DIR/best/best.json, or None when no step has been kept."""
  try:
    return json.loads((pathlib.Path(model_dir) / BEST_DIR / BEST_JSON).read_text(encoding="utf-8"))
  except (OSError, json.JSONDecodeError):
    return None


def best_of(scores: dict[int, float]) -> Best | None:
  """The highest score; the earliest step wins a tie (fewer finetuning steps for the same result)."""
  if not scores:
    return None
  step = max(sorted(scores), key=lambda s: scores[s])
  return Best(step, scores[step])


def evaluated(model_dir: str | os.PathLike) -> dict[int, float]:
  """{step: normalised average} of every held-out evaluation written to MODEL_DIR/eval/<step>/."""
  return {step: r["table5"][NORM_AVG_COLUMN] for step, r in results_lib.history(model_dir).items()
          if isinstance(r.get("table5", {}).get(NORM_AVG_COLUMN), (int, float))}


def report(model_dir: str | os.PathLike) -> str | None:
  """One line naming the best evaluated step, the scores it was chosen from, and the kept checkpoint."""
  scores = evaluated(model_dir)
  best = best_of(scores)
  if best is None:
    return None
  kept = read(model_dir)
  kept_dir = pathlib.Path(model_dir) / BEST_DIR / f"checkpoint_{best.step}"
  where = f"; kept in {kept_dir}" if kept and kept.get("step") == best.step else ""
  listed = ", ".join(f"{s}: {v:.1f}" for s, v in scores.items())
  return f"flanx: best step by held-out {NORM_AVG_COLUMN}: {best.step} ({best.score:.1f}) of steps {{{listed}}}{where}"


class BestKeeper:
  """Keeps the checkpoint of the best evaluated step (see the module docstring). Every process calls `offer`
  with the same row (the held-out evaluation runs on all of them), so they all save or none does."""

  def __init__(self, model_dir: str | os.PathLike, async_save: bool = True):
    self.directory = checkpoints.as_path(model_dir) / BEST_DIR
    kept = read(model_dir)
    self.scores: dict[int, float] = {int(s): v for s, v in (kept or {}).get("scores", {}).items()}
    self.best = Best(kept["step"], kept["score"], tuple(kept.get("over", ()))) if kept else None
    # One checkpoint: saving a better step deletes the one before it.
    self._checkpointer = checkpoints.Checkpointer(self.directory, period=0, keep=1, async_save=async_save)

  def offer(self, step: int, row: dict, state, data_position: dict) -> bool:
    """Saves `state` if `row`'s normalised average is the best so far; True when it was."""
    score = row.get(NORM_AVG_COLUMN)
    if not isinstance(score, (int, float)) or (self.best is not None and step <= self.best.step):
      return False  # nothing to compare, or a step already judged (a resumed run evaluating it again)
    self.scores[step] = float(score)
    better = self.best is None or score > self.best.score
    if better:
      self._checkpointer.save(state, data_position, force=True)
      self._checkpointer.wait()  # best.json names only a complete checkpoint
      self.best = Best(step, float(score), tuple(c for c in row if c != NORM_AVG_COLUMN and row[c] is not None))
      if jax.process_index() == 0:
        self._copy_config()
        print(f"flanx: step {step} is the best so far by held-out {NORM_AVG_COLUMN} ({score:.2f}); kept in "
              f"{self.directory / f'checkpoint_{step}'}", flush=True)
    if jax.process_index() == 0:
      self._write()
    return better

  def _write_file(self, name: str, text: str) -> None:
    """Atomically, on a local disk or an object store (one object write), as config.gin is written."""
    tmp = self.directory / f".{name}.tmp"
    tmp.write_text(text)
    tmp.replace(self.directory / name)

  def _copy_config(self) -> None:
    """MODEL_DIR/config.gin beside the kept checkpoint, so `flanx eval` on it finds its model definition."""
    config = self.directory.parent / CONFIG_GIN
    if config.exists():
      self._write_file(CONFIG_GIN, config.read_text())

  def _write(self) -> None:
    record = {"step": self.best.step, "score": self.best.score, "metric": NORM_AVG_COLUMN,
              "over": list(self.best.over), "checkpoint": str(self.directory / f"checkpoint_{self.best.step}"),
              "scores": {str(s): v for s, v in sorted(self.scores.items())}} if self.best else {}
    self._write_file(BEST_JSON, json.dumps(record, indent=1) + "\n")

  def close(self) -> None:
    self._checkpointer.wait()
    self._checkpointer.close()
