"""One evaluation's outputs under <model_dir>/eval/<step>/ (test-split runs under .../<step>/test/), each file
written atomically (storage.write_atomic); merging a run into what earlier runs wrote for the same step; and
reading every step back for the score-vs-step plot."""

import hashlib
import json
import os
import pathlib
from collections.abc import Sequence

from flanx.errors import FlanxError
from flanx.evaluation.suite import NORM_AVG_COLUMN, VALIDATION
from flanx.storage import write_atomic

RESULTS_JSON = "results.json"
TABLE_MD = "results.md"
PLOT_PNG = "scores.png"
PREDICTIONS_DIR = "predictions"


def eval_dir(model_dir: str | os.PathLike, step: int, split: str = VALIDATION) -> pathlib.Path:
  """Validation (the paper's table) at eval/<step>/; another split in its own folder below it."""
  step_dir = pathlib.Path(model_dir) / "eval" / str(step)
  return step_dir if split == VALIDATION else step_dir / split


def results_text(results: dict) -> str:
  return json.dumps(results, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def write_results(directory: pathlib.Path, results: dict) -> pathlib.Path:
  path = directory / RESULTS_JSON
  write_atomic(path, results_text(results))
  return path


def read_results(directory: pathlib.Path) -> dict | None:
  """The results.json an earlier run left in `directory`; None when there is none or it cannot be read."""
  try:
    return json.loads((directory / RESULTS_JSON).read_text(encoding="utf-8"))
  except (OSError, json.JSONDecodeError):
    return None


def predictions_path(directory: pathlib.Path, setting: str) -> pathlib.Path:
  return directory / PREDICTIONS_DIR / f"{setting}.jsonl"


def predictions_text(records: list[dict]) -> str:
  """One JSON object per example: id, group, prompt, target, output, answer, correct (and votes when sampled)."""
  return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def fingerprint(examples: Sequence[dict]) -> str:
  """A setting's data as read (prompts, targets, metadata): equal only when every example is the same."""
  text = json.dumps(list(examples), sort_keys=True, ensure_ascii=False, default=str)
  return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def check_same_data(previous: dict | None, directory: str | None, fingerprints: dict[str, str],
                    where: pathlib.Path) -> None:
  """Results merge only with results read from the same data: the same data directory, and for each setting
  evaluated before and now, the same examples. Otherwise one line, before anything is evaluated."""
  if not previous:
    return
  path = where / RESULTS_JSON
  if "data" not in previous:
    raise FlanxError(f"{path} records no data directory (written by an older flanx), so its results cannot be "
                     f"merged with this run's: move it away or evaluate into another EVAL_MODEL_DIR")
  before = previous["data"].get("directory")
  if before != directory:
    raise FlanxError(f"{path} holds results read from data directory {before or '(embedded fixtures)'}, but this "
                     f"run reads {directory or '(embedded fixtures)'}: results from different data are never "
                     f"merged; move that results.json away or evaluate into another EVAL_MODEL_DIR")
  for name, fp in fingerprints.items():
    earlier = previous.get("settings", {}).get(name, {}).get("data")
    if earlier is not None and earlier != fp:
      raise FlanxError(f"{path}: the data of setting {name!r} in {directory} changed since it was evaluated "
                       f"({earlier} then, {fp} now): move that results.json away or evaluate into another "
                       f"EVAL_MODEL_DIR")


def merge(previous: dict | None, current: dict) -> dict:
  """`current` (one run) added to what earlier runs wrote for the same step and split.

  Settings evaluated now replace their earlier results and the others are kept, so evaluating 'mmlu' and then
  'bbh' into one step leaves both. A setting is listed as missing only while no run has evaluated it.
  """
  if not previous or previous.get("split", VALIDATION) != current["split"]:
    return dict(current)
  settings = {**previous.get("settings", {}), **current["settings"]}
  missing = {**previous.get("missing", {}), **current["missing"]}
  earlier_suites = previous.get("suites") or ([previous["suite"]] if "suite" in previous else [])
  return {**current,
          "suites": list(dict.fromkeys([*earlier_suites, *current["suites"]])),
          "settings": settings,
          "missing": {name: m for name, m in missing.items() if name not in settings},
          "prompts": {**previous.get("prompts", {}), **current["prompts"]},
          "outputs": {**previous.get("outputs", {}), **current["outputs"]},
          "skipped": sorted((set(previous.get("skipped", [])) | set(current["skipped"])) - set(settings))}


def table_row(results: dict, columns: Sequence[str]) -> tuple[dict[str, float | None], list[str]]:
  """The row of `columns` (None where not evaluated) plus Norm. avg, and the columns Norm. avg is taken over.

  Norm. avg is the mean of each evaluated setting's normalised score (its score against its own random
  baseline); with some columns missing it is taken over the others, and the second value says which.
  """
  by_column = {s["column"]: s["metrics"] for s in results["settings"].values()}
  row = {c: by_column[c]["score"] if c in by_column else None for c in columns}
  over = [c for c in columns if c in by_column]
  row[NORM_AVG_COLUMN] = sum(by_column[c]["normalized"] for c in over) / len(over) if over else None
  return row, over


def other_columns(results: dict, columns: Sequence[str]) -> dict[str, float]:
  """Scores of the settings outside the table's columns (the zero-shot ones), by column; never in Norm. avg."""
  return {s["column"]: s["metrics"]["score"] for s in results["settings"].values() if s["column"] not in columns}


def history(model_dir: str | os.PathLike) -> dict[int, dict]:
  """{step: results} for every <model_dir>/eval/<step>/results.json, in step order; unreadable ones are skipped."""
  found = {}
  for p in (pathlib.Path(model_dir) / "eval").glob(f"*/{RESULTS_JSON}"):
    if p.parent.name.lstrip("-").isdigit() and (results := read_results(p.parent)) is not None:
      found[int(p.parent.name)] = results
  return dict(sorted(found.items()))
