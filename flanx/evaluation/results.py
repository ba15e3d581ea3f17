"""Writing one evaluation's outputs under <model_dir>/eval/<step>/, each file atomically (temp file + os.replace),
and reading earlier steps back for the score-vs-step plot."""

import json
import os
import pathlib
import tempfile

RESULTS_JSON = "results.json"
TABLE_MD = "results.md"
PLOT_PNG = "scores.png"
PREDICTIONS_DIR = "predictions"


def eval_dir(model_dir: str | os.PathLike, step: int) -> pathlib.Path:
  return pathlib.Path(model_dir) / "eval" / str(step)


def write_atomic(path: pathlib.Path, data: bytes | str) -> None:
  """Readers see the old file or the whole new one, never a half-written one."""
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(tmp, path)
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise


def write_results(directory: pathlib.Path, results: dict) -> pathlib.Path:
  path = directory / RESULTS_JSON
  write_atomic(path, json.dumps(results, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
  return path


def write_predictions(directory: pathlib.Path, setting: str, records: list[dict]) -> pathlib.Path:
  """One JSON object per example: id, group, prompt, target, output, answer, correct (and votes when sampled)."""
  path = directory / PREDICTIONS_DIR / f"{setting}.jsonl"
  write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
  return path


def history(model_dir: str | os.PathLike) -> dict[int, dict]:
  """{step: results} for every <model_dir>/eval/<step>/results.json, in step order; unreadable ones are skipped."""
  found = {}
  for p in (pathlib.Path(model_dir) / "eval").glob(f"*/{RESULTS_JSON}"):
    if p.parent.name.lstrip("-").isdigit():
      try:
        found[int(p.parent.name)] = json.loads(p.read_text(encoding="utf-8"))
      except (OSError, json.JSONDecodeError):
        continue
  return dict(sorted(found.items()))
