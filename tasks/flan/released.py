"""The released, pre-rendered Flan 2022 collection: five submixes of ready (inputs, targets) records.

The collection directory (gin `collection_dir.path`, else $FLANX_COLLECTION_DIR, else DATA_DIR/flan_collection;
a local path or anything etils.epath opens, gs:// included) holds any of the public layouts:

  {submix}_submix_original/data/*.parquet   Hugging Face submix repositories (DataProvenanceInitiative/*,
                                            conceptofmind/*): all template types together, `template_type`
                                            in each record
  {submix}_{zsopt,...}_data/*.parquet       one folder per template type (Open-Orca/FLAN)
  {submix}_{zs_opt,...}_train.jsonl[.gz]    one file per template type (the exported JSON-lines files,
                                            e.g. SirNeural/flan_v2); `{submix}_{zs_opt,...}.jsonl[.gz]` too,
                                            and a large one published in parts as the export names them
                                            (`flan_fs_opt_train_part1.jsonl.gz`, `..._part2...`), read in order

Flan 2021 is spelled `flan2021` or `flan`. Records carry inputs, targets, task_source, task_name and
template_type (each metadata field also spelled with a leading underscore). When a submix has per-template
files they are read; otherwise its whole-submix shards are read and filtered by template_type.
"""

import collections
import dataclasses
import os
import re
from collections.abc import Callable, Iterator

import gin
from etils import epath

from flanx import data_dir, records as bad
from flanx.errors import FlanxError
from tasks.flan import files, names
from tasks.flan.pipeline import SourceTask

ENV_VAR = "FLANX_COLLECTION_DIR"
ALIASES: dict[str, tuple[str, ...]] = {"flan2021": ("flan2021", "flan"), "t0": ("t0",), "niv2": ("niv2",),
                                        "cot": ("cot",), "dialog": ("dialog",)}
WHOLE_SUBMIX = ("{alias}_submix_original/data/*.parquet", "{alias}_submix_original/data/*.jsonl",
                "{alias}_submix_original/data/*.jsonl.gz")
PER_TEMPLATE = ("{alias}_{compact}_data/*.parquet",
                *(f"{{alias}}_{{{tt}}}{suffix}" for tt in ("tt", "compact")
                  for suffix in ("_train.jsonl", "_train.jsonl.gz", ".jsonl", ".jsonl.gz",
                                 "_train_part*.jsonl", "_train_part*.jsonl.gz")))


def _in_order(path: epath.Path) -> tuple:
  """Files sorted by name, numbered parts by number (part2 before part10)."""
  return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path)))


@gin.configurable("collection_dir")
def _configured_path(path: str | None = None):
  """gin: collection_dir.path = 'gs://bucket/flan' (validated by `collection_dir`, outside gin's call)."""
  return path


def collection_dir() -> epath.Path:
  """Where the released collection is: gin `collection_dir.path`, else $FLANX_COLLECTION_DIR, else
  DATA_DIR/flan_collection."""
  path = _configured_path()
  if path is not None and not isinstance(path, (str, os.PathLike)):
    raise FlanxError(f"collection_dir.path={path!r}: give a directory path as a string")
  chosen = str(path) if path else os.environ.get(ENV_VAR)
  if chosen:
    return epath.Path(chosen)
  base = data_dir.data_dir(required=False)
  if base is None:
    raise FlanxError(f"no released Flan collection directory: set {ENV_VAR}=/path/or/gs://bucket, the gin "
                     f"binding collection_dir.path, or a data directory ({data_dir.ENV_VAR}) holding flan_collection/")
  return epath.Path(base) / "flan_collection"


def _field(row: dict, name: str):
  """Metadata fields appear as `task_name` (Hugging Face repos, exports) or `_task_name` (seqio passthrough)."""
  return row[name] if name in row else row.get(f"_{name}")


@dataclasses.dataclass(frozen=True)
class ReleasedSource:
  """One template type of one released submix."""
  submix: str
  template_type: str
  root: Callable[[], epath.Path] = collection_dir

  def _patterns(self, patterns) -> list[str]:
    compact = self.template_type.replace("_", "")
    return [p.format(alias=a, tt=self.template_type, compact=compact) for a in ALIASES[self.submix] for p in patterns]

  def files(self) -> tuple[list[epath.Path], bool]:
    """(files, filter by the records' template_type): the per-template files if any, else the submix's shards."""
    root = self.root()
    for patterns, by_record in ((PER_TEMPLATE, False), (WHOLE_SUBMIX, True)):
      found = sorted({p for pattern in self._patterns(patterns) for p in root.glob(pattern)}, key=_in_order)
      if found:
        return found, by_record
    return [], False

  def present(self) -> bool:
    return bool(self.files()[0])

  @property
  def family(self) -> str:
    return self.submix

  @property
  def dataset(self) -> str:
    return self.submix

  def describe(self) -> str:
    return f"released {self.submix} submix, template type {self.template_type!r}"

  def location(self) -> str:
    return " or ".join(self._patterns(PER_TEMPLATE[:2] + WHOLE_SUBMIX[:1]))

  def where(self) -> str:
    try:
      return f"{self.root()}/{{{self.location()}}}"
    except FlanxError:
      return self.location()

  def siblings_present(self) -> list[str]:
    """The submix's other template types that are present: a source that publishes them but not this one
    lacks it (the SirNeural/flan_v2 export has no t0 fs_opt file)."""
    return [tt for tt in names.TEMPLATE_TYPES
            if tt != self.template_type and ReleasedSource(self.submix, tt, self.root).present()]

  def check(self) -> None:
    if not self.present():
      others = self.siblings_present()
      lacks = (f"; the collection directory has this submix's {', '.join(others)} but no {self.template_type} "
               f"(some exports lack it: SirNeural/flan_v2 has no t0 fs_opt file)" if others else "")
      raise FlanxError(f"{self.describe()} is missing: expected {self.where()}{lacks} (see docs/data.md, "
                       f"`flanx data status --missing`)")

  def _rows(self, path: epath.Path, by_record: bool) -> Iterator[tuple[int | str, dict]]:
    if str(path).endswith(".parquet"):
      columns = ["inputs", "targets"] + [p + f for f in ("task_source", "task_name", "template_type", "template_idx")
                                         for p in ("", "_")]
      where = None
      if by_record:  # filter in Arrow; the column may carry either spelling
        where = ("template_type", self.template_type)
      return files.parquet_rows(path, columns, where=where)
    return files.json_lines(path)

  def records(self) -> Iterator[dict]:
    """The released records of this submix and template type, as the task's features."""
    paths, by_record = self.files()
    kept = 0
    for path in paths:
      for where, row in self._rows(path, by_record):
        inputs, targets, template_type = row.get("inputs"), row.get("targets"), _field(row, "template_type")
        if not isinstance(inputs, str) or not inputs.strip():
          bad.bad_record(path, where, "missing or empty 'inputs'")
          continue
        if not isinstance(targets, str):
          bad.bad_record(path, where, "missing 'targets'")
          continue
        if by_record:
          if not isinstance(template_type, str):
            bad.bad_record(path, where, "missing 'template_type' (needed to tell this submix's template types apart)")
            continue
          if template_type != self.template_type:
            continue
        task_name, index = _field(row, "task_name"), _field(row, "template_idx")
        kept += 1
        yield {
            "inputs": inputs,
            "targets": targets,
            "task": task_name if isinstance(task_name, str) else "",
            "family": self.submix,
            "template": int(index) if isinstance(index, int) else -1,
            "format": self.template_type,
        }
    if kept == 0 and paths:
      found = self._template_types(paths) if by_record else {}
      seen = ", ".join(f"{t} ({n})" for t, n in found.most_common()) if found else "none"
      raise FlanxError(f"{self.describe()}: no records in {len(paths)} file(s) under {self.root()} "
                       f"(template types found: {seen}); pick a mixture or task of a template type the files hold")

  def _template_types(self, paths) -> collections.Counter:
    counts = collections.Counter()
    for path in paths[:1]:
      for _, row in self._rows(path, by_record=False):
        counts[str(_field(row, "template_type"))] += 1
    return counts


@dataclasses.dataclass(frozen=True)
class ReleasedTask(SourceTask):
  """One seqio task's data: the released records of `source`."""
  source: ReleasedSource
  task_name: str

  @property
  def fmt(self) -> str:
    return self.source.template_type

  def examples(self, seed: int = 0) -> Iterator[dict]:
    del seed  # already rendered
    return self.source.records()


def sources() -> list[ReleasedSource]:
  return [ReleasedSource(s, tt) for s in names.SUBMIXES for tt in names.TEMPLATE_TYPES]
