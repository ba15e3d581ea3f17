"""NIV2 tasks' real example counts, so that a task weighs min(its instances, 5k) as in the paper, not 5k each.

Counting needs every task file parsed once (minutes for the whole release), so the counts are recorded in
`niv2/tasks/instance_counts.json` (file name -> size, modification time, count), written atomically the first
time a mixture's rates are computed from that directory; later runs read the record and count only files that
changed. A directory that cannot be written is counted again in each process. A task without its file keeps the
uniform 5k declaration (`flanx inspect` names which sizes were used).
"""

import functools
import json
import pathlib
import sys

from flanx.evaluation.results import write_atomic

RECORD = "instance_counts.json"


def count_instances(task: dict) -> int:
  """Instances that yield a training example (those with a non-empty output list), as `Niv2Json.records`."""
  return sum(1 for i in task.get("Instances", []) if isinstance(i, dict) and i.get("output") and i["output"][0])


def _stamp(path: pathlib.Path) -> list[int]:
  stat = path.stat()
  return [stat.st_size, stat.st_mtime_ns]


def _load_record(directory: pathlib.Path) -> dict:
  try:
    record = json.loads((directory / RECORD).read_text(encoding="utf-8"))
  except (OSError, ValueError):
    return {}
  return record if isinstance(record, dict) else {}


@functools.cache
def _counts(directory: pathlib.Path, stamp: tuple[int, ...], record_them: bool) -> dict[str, int]:
  del stamp  # part of the cache key: a changed directory is looked at again
  record = _load_record(directory)
  files = sorted(p for p in directory.glob("task*.json"))
  fresh = {p.name: record[p.name] for p in files
           if isinstance(record.get(p.name), dict) and record[p.name].get("stamp") == _stamp(p)}
  stale = [p for p in files if p.name not in fresh]
  if stale and record_them:
    print(f"flanx: counting the instances of {len(stale)} NIV2 task files in {directory} (recorded in {RECORD})",
          file=sys.stderr, flush=True)
  for path in stale:
    try:
      with open(path, encoding="utf-8") as f:
        count = count_instances(json.load(f))
    except (OSError, ValueError):
      continue  # unreadable: its reader reports it when the task is read; its rate stays the declared one
    fresh[path.name] = {"stamp": _stamp(path), "count": count}
  if stale and record_them:
    try:
      write_atomic(directory / RECORD, json.dumps(fresh, indent=0, sort_keys=True))
    except OSError:
      pass  # a read-only data directory: counted again next time
  return {name: entry["count"] for name, entry in fresh.items()}


def counts(directory: pathlib.Path, record_them: bool = True) -> dict[str, int]:
  """Task file name -> instance count, for every task file in `directory` (empty if there is none).
  `record_them=False` (the embedded fixtures, inside the package) counts without writing the record."""
  if not directory.is_dir():
    return {}
  stat = directory.stat()
  return _counts(directory, (stat.st_mtime_ns, stat.st_ino), record_them)
