"""Writes small released-collection directories in the public layouts (pyarrow writes the Parquet)."""

import gzip
import json
import pathlib

TEMPLATE_TYPES = ("zs_opt", "zs_noopt", "fs_opt", "fs_noopt")


def record(submix: str, template_type: str, i: int, underscore: bool = False) -> dict:
  """One released record; `underscore` spells the metadata as seqio passthrough features (`_task_name`)."""
  p = "_" if underscore else ""
  return {
      "inputs": f"{submix} {template_type} question {i}?",
      "targets": f"{submix} answer {i}",
      f"{p}task_source": submix,
      f"{p}task_name": f"{submix}_task_{i % 2}",
      f"{p}template_type": template_type,
      f"{p}template_idx": i % 3,
  }


def write_parquet(path: pathlib.Path, rows: list[dict]) -> pathlib.Path:
  import pyarrow as pa
  import pyarrow.parquet as pq
  path.parent.mkdir(parents=True, exist_ok=True)
  pq.write_table(pa.Table.from_pylist(rows), path)
  return path


def write_jsonl(path: pathlib.Path, rows: list, compress: bool | None = None) -> pathlib.Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
  if compress if compress is not None else path.name.endswith(".gz"):
    path.write_bytes(gzip.compress(text.encode()))
  else:
    path.write_text(text)
  return path


def hf_submix(root: pathlib.Path, submix: str, per_type: int = 3, shards: int = 2) -> list[pathlib.Path]:
  """Hugging Face submix repository: data/train-0000N-of-0000M.parquet, all template types interleaved."""
  rows = [record(submix, tt, i) for i in range(per_type) for tt in TEMPLATE_TYPES]
  return [write_parquet(root / f"{submix}_submix_original/data/train-{k:05d}-of-{shards:05d}.parquet", rows[k::shards])
          for k in range(shards)]


def open_orca(root: pathlib.Path, alias: str, submix: str, template_type: str, n: int = 3) -> pathlib.Path:
  """Open-Orca/FLAN: {alias}_{zsopt}_data/part.0.parquet with the underscore metadata columns."""
  compact = template_type.replace("_", "")
  rows = [record(submix, template_type, i, underscore=True) for i in range(n)]
  return write_parquet(root / f"{alias}_{compact}_data/part.0.parquet", rows)


def exported_jsonl(root: pathlib.Path, alias: str, submix: str, template_type: str, n: int = 3,
                   suffix: str = "_train.jsonl.gz") -> pathlib.Path:
  """The exported JSON-lines files: {alias}_{zs_opt}_train.jsonl.gz, one per template type."""
  return write_jsonl(root / f"{alias}_{template_type}{suffix}", [record(submix, template_type, i) for i in range(n)])


def exported_parts(root: pathlib.Path, alias: str, submix: str, template_type: str, sizes: tuple[int, ...]) -> list:
  """A large export published in parts, named as SirNeural/flan_v2 names them: flan_fs_opt_train_part1.jsonl.gz,
  ..._part2..., each a whole gzip file; record numbers run on across the parts."""
  paths, first = [], 0
  for k, n in enumerate(sizes, start=1):
    rows = [record(submix, template_type, i) for i in range(first, first + n)]
    paths.append(write_jsonl(root / f"{alias}_{template_type}_train_part{k}.jsonl.gz", rows))
    first += n
  return paths
