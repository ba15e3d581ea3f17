"""Readers of the collection's sources in their release layouts. They stream: one record at a time.

A reader knows where its files live under a root directory (the data directory, or the embedded `mini/`
collection), says whether they are there, and yields raw records as dicts of the task type's fields.
Nothing is touched until `check()` or `records()` is called.
"""

import abc
import dataclasses
import glob
import json
import pathlib
from collections.abc import Callable, Iterator

from flanx import data_dir, records as bad
from flanx.errors import FlanxError
from tasks.flan import files, niv2_counts

Record = dict
Convert = Callable[[dict], Record | None]  # release-format record -> template fields (None: skip it)
Root = Callable[[], pathlib.Path]


def data_root() -> pathlib.Path:
  return data_dir.data_dir()


def text(value) -> str:
  """TFDS hands strings over as bytes; the JSON layouts as str."""
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@dataclasses.dataclass(frozen=True)
class Reader(abc.ABC):
  root: Root

  @abc.abstractmethod
  def location(self) -> str:
    """Where the files are expected, relative to the root, for messages and `flanx data status`."""

  @abc.abstractmethod
  def present(self) -> bool:
    ...

  @abc.abstractmethod
  def records(self) -> Iterator[Record]:
    ...

  def count(self) -> int | None:
    """The number of records, where it is known without reading the records (None: use the declared size)."""
    return None

  def exemplars(self) -> list[Record] | None:
    """A fixed exemplar pool (NIV2's positive examples), or None to draw exemplars from the stream itself."""
    return None

  def check(self, what: str) -> None:
    root = self.root()
    if not self.present():
      raise FlanxError(f"{what} is missing: expected {root / self.location()}; put the release files there "
                       f"(see docs/data.md, `flanx data status`)")


@dataclasses.dataclass(frozen=True)
class CotTsv(Reader):
  """Flan's CoT training TSVs: no header, columns input, target, rationale; newlines written as '\\n'."""
  name: str

  def location(self) -> str:
    return f"flan_cot/cot_data/{self.name}_train.tsv"

  def present(self) -> bool:
    return (self.root() / self.location()).is_file()

  def records(self) -> Iterator[Record]:
    path = self.root() / self.location()
    for number, line in bad.decoded_lines(path):
      parts = line.rstrip("\r\n").split("\t")
      if len(parts) != 3:
        if line.strip():  # a blank line (e.g. a trailing one) is not a record
          bad.bad_record(path, number, f"expected 3 tab-separated columns, found {len(parts)}")
        continue
      question, answer, rationale = (p.replace("\\n", "\n").strip() for p in parts)
      yield {"question": question, "answer": answer, "rationale": rationale}


def niv2_catalog_form(name: str) -> str:
  """A Super-Natural-Instructions task name as the collection's task list spells it: hyphens became
  underscores and everything from the first dot was cut ("task075_squad1.1_answer_generation" ->
  "task075_squad1")."""
  return name.replace("-", "_").split(".", 1)[0]


@dataclasses.dataclass(frozen=True)
class Niv2Json(Reader):
  """One Super-Natural-Instructions task file: Definition, Positive Examples, Instances (output is a list).

  The file is `niv2/tasks/{task}.json`; a task known only by its catalogue spelling is matched to the file
  whose real name has that spelling.
  """
  task: str
  record_counts: bool = True  # write niv2/tasks/instance_counts.json (not inside the package's fixtures)

  def location(self) -> str:
    return f"niv2/tasks/{self.task}.json"

  def _path(self) -> pathlib.Path | None:
    exact = self.root() / self.location()
    if exact.is_file():
      return exact
    number, wanted = self.task.split("_", 1)[0], niv2_catalog_form(self.task)
    for candidate in sorted(glob.glob(str(self.root() / "niv2" / "tasks" / f"{number}_*.json"))):
      if niv2_catalog_form(pathlib.Path(candidate).stem) == wanted:
        return pathlib.Path(candidate)
    return None

  def present(self) -> bool:
    return self._path() is not None

  def count(self) -> int | None:
    path = self._path()
    return None if path is None else niv2_counts.counts(path.parent, self.record_counts).get(path.name)

  def _load(self) -> dict:
    with open(self._path() or self.root() / self.location(), encoding="utf-8") as f:
      return json.load(f)

  @staticmethod
  def _definition(task: dict) -> str:
    definition = task["Definition"]
    return (definition[0] if isinstance(definition, list) else definition).strip()

  def records(self) -> Iterator[Record]:
    task = self._load()
    definition = self._definition(task)
    for i, instance in enumerate(task["Instances"]):
      try:
        record = {"definition": definition, "input": instance["input"], "output": instance["output"],
                  "id": instance["id"]}
      except (KeyError, TypeError) as e:
        bad.bad_record(self._path(), f"Instances[{i}]", f"missing field {e}")
        continue
      if record.pop("output") and instance["output"]:
        yield {**record, "answer": instance["output"][0]}

  def exemplars(self) -> list[Record]:
    task = self._load()
    definition = self._definition(task)
    return [{"definition": definition, "input": e["input"], "answer": e["output"]} for e in task["Positive Examples"]]


@dataclasses.dataclass(frozen=True)
class JsonRecords(Reader):
  """A release file of JSON records, one per line (jsonl) or one JSON list, in the dataset's own field names."""
  path: str
  convert: Convert

  def location(self) -> str:
    return self.path

  def present(self) -> bool:
    return (self.root() / self.path).is_file()

  def _raw(self) -> Iterator[tuple[int | str, dict]]:
    """(line or item number, record); JSON lines that do not parse are bad records."""
    path = self.root() / self.path
    if not self.path.endswith((".jsonl", ".jsonl.gz")):
      with open(path, encoding="utf-8") as f:
        yield from ((f"item {i}", raw) for i, raw in enumerate(json.load(f)))
      return
    yield from files.json_lines(path)

  def records(self) -> Iterator[Record]:
    yield from converted(self._raw(), self.convert, self.root() / self.path)


def converted(rows: Iterator[tuple[int | str, dict]], convert: Convert, where_from) -> Iterator[Record]:
  """Release-file rows through a converter; a row missing a field, or with one of the wrong shape, is bad."""
  for where, raw in rows:
    try:
      record = convert(raw)
    except (KeyError, IndexError, TypeError, ValueError) as e:
      bad.bad_record(where_from, where, f"missing or malformed field {e}")
      continue
    if record is not None:
      yield record


@dataclasses.dataclass(frozen=True)
class ParquetRecords(Reader):
  """Parquet shards matching a glob under the root (a Hugging Face dataset repository's data/train-*.parquet)."""
  pattern: str
  convert: Convert

  def location(self) -> str:
    return self.pattern

  def _files(self) -> list[pathlib.Path]:
    return sorted(pathlib.Path(p) for p in glob.glob(str(self.root() / self.pattern)))

  def present(self) -> bool:
    return bool(self._files())

  def records(self) -> Iterator[Record]:
    for path in self._files():
      yield from converted(files.parquet_rows(path), self.convert, path)


@dataclasses.dataclass(frozen=True)
class Tfds(Reader):
  """A prepared TFDS dataset under ROOT/tfds (built with `tfds build NAME --data_dir ROOT/tfds`)."""
  name: str
  convert: Convert
  split: str = "train"

  def location(self) -> str:
    return f"tfds/{self.name}"

  def present(self) -> bool:
    # TFDS keeps NAME[/CONFIG]/VERSION/dataset_info.json; the glob avoids importing TFDS's catalog (it may go online).
    return bool(glob.glob(str(self.root() / "tfds" / self.name / "**" / "dataset_info.json"), recursive=True))

  def records(self) -> Iterator[Record]:
    import tensorflow_datasets as tfds  # heavy, and only needed when the dataset is read
    builder = tfds.builder(self.name, data_dir=str(self.root() / "tfds"))
    for raw in tfds.as_numpy(builder.as_dataset(split=self.split, shuffle_files=False)):
      # A converter's KeyError here is a wrong feature name in flanx, not bad data: it is not caught.
      record = self.convert(raw)
      if record is not None:
        yield record


@dataclasses.dataclass(frozen=True)
class P3(Reader):
  """bigscience/P3 layout: data/{dataset}_{prompt}/train.tfrecord-* with inputs_pretokenized,
  targets_pretokenized and answer_choices. One prompt folder is one template; jsonl files with the same
  feature names are read too (the embedded collection uses them). With `prompts`, only those folders are read
  (P3 also holds prompts that the collection does not use, and score-eval variants)."""
  dataset: str
  prompts: tuple[str, ...] | None = None

  def location(self) -> str:
    if self.prompts is not None and len(self.prompts) == 1:
      return f"p3/data/{self.prompts[0]}"
    return f"p3/data/{self.dataset}_*"

  def _prompt_dirs(self) -> list[pathlib.Path]:
    dirs = (pathlib.Path(p) for p in glob.glob(str(self.root() / self.location())))
    return sorted(d for d in dirs if d.is_dir() and (self.prompts is None or d.name in self.prompts))

  def present(self) -> bool:
    return any(glob.glob(str(d / "train.*")) for d in self._prompt_dirs())

  @staticmethod
  def _tfrecords(paths: list[str]) -> Iterator[dict]:
    import tensorflow as tf
    spec = {
        "inputs_pretokenized": tf.io.FixedLenFeature([], tf.string),
        "targets_pretokenized": tf.io.FixedLenFeature([], tf.string),
        "answer_choices": tf.io.VarLenFeature(tf.string),
    }
    for raw in tf.data.TFRecordDataset(paths):
      ex = tf.io.parse_single_example(raw, spec)
      yield {
          "inputs_pretokenized": ex["inputs_pretokenized"].numpy(),
          "targets_pretokenized": ex["targets_pretokenized"].numpy(),
          "answer_choices": list(tf.sparse.to_dense(ex["answer_choices"]).numpy()),
      }

  def _prompt_records(self, template_id: int, prompt_dir: pathlib.Path) -> Iterator[Record]:
    tfrecords = sorted(glob.glob(str(prompt_dir / "train.tfrecord*")))
    raws = self._tfrecords(tfrecords) if tfrecords else (row for _, row in files.json_lines(prompt_dir / "train.jsonl"))
    for raw in raws:
      answer = text(raw["targets_pretokenized"]).strip()
      options = [text(c).strip() for c in raw.get("answer_choices") or []]
      yield {
          "inputs": text(raw["inputs_pretokenized"]).strip(),
          "answer": answer,
          "options": options if answer in options else [],
          "template_id": template_id,
      }

  def records(self) -> Iterator[Record]:
    """The prompt folders' records interleaved, one from each folder in turn: a folder holds a whole dataset
    (3.6M records for amazon_polarity), so reading them one after another would give only the first prompt
    for as long as any capped run lasts. The order is fixed, so a resumed stream skips to the same place."""
    streams = [self._prompt_records(i, d) for i, d in enumerate(self._prompt_dirs())]
    while streams:
      for stream in list(streams):
        record = next(stream, None)
        if record is None:
          streams.remove(stream)
        else:
          yield record
