"""From a source's raw records to formatted examples, streamed through a Python generator.

Few-shot exemplars come from the same stream (a small sliding window of neighbouring records of the same
task) or from the task's fixed pool (NIV2's positive examples); never from another task. Each example draws
its randomness from Random(seed, task, index), so the same seed gives the same examples.
"""

import dataclasses
import random
from collections.abc import Iterator, Sequence

import gin
import tensorflow as tf

from flanx import vocab
from flanx.templates import FORMATS, formats, render
from tasks.flan.sources import Source

# A record keeps at most this many neighbours as exemplar candidates: bounded memory however big the source.
WINDOW = formats.MAX_SHOTS

# Metadata carried next to inputs/targets (pass them as `passthrough_features` when getting a mixture).
METADATA: tuple[str, ...] = ("task", "family", "template", "format")

FEATURES = {
    "inputs": tf.TensorSpec([], tf.string),
    "targets": tf.TensorSpec([], tf.string),
    "task": tf.TensorSpec([], tf.string),
    "family": tf.TensorSpec([], tf.string),
    "template": tf.TensorSpec([], tf.int32),
    "format": tf.TensorSpec([], tf.string),
}


@gin.configurable
def input_budget(tokens: int = formats.INPUT_BUDGET) -> int:
  """Few-shot inputs are pruned to this many tokens of the active vocabulary (gin: input_budget.tokens)."""
  return tokens


def with_neighbours(records: Iterator[dict], k: int = WINDOW) -> Iterator[tuple[dict, list[dict]]]:
  """Yields each record with up to k other records of the same template from near it in the stream.

  Records carrying a `template_id` (P3 prompt folders, interleaved) keep one window per template, so a
  record's exemplars are rendered by its own prompt; the others share one window.
  """
  windows: dict[object, list[dict]] = {}
  for record in records:
    window = windows.setdefault(record.get("template_id"), [])
    window.append(record)
    if len(window) > k:
      yield window[0], window[1:]
      window.pop(0)
  for window in windows.values():
    for i, record in enumerate(window):
      yield record, window[:i] + window[i + 1:]


def _count_tokens(text: str) -> int:
  return len(vocab.active().encode(text))


class SourceTask:
  """What a registered task reads: its `source` (present, describe, where, check), named by family and
  dataset, and the examples it yields as FEATURES."""
  source: Source

  @property
  def family(self) -> str:
    return self.source.family

  @property
  def dataset(self) -> str:
    return self.source.dataset

  def examples(self, seed: int = 0) -> Iterator[dict]:
    raise NotImplementedError

  def dataset_fn(self, split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
    del split, shuffle_files  # one train split; seqio shuffles examples
    self.source.check()  # a missing source fails here, with its own message, before any graph is built
    seed = 0 if seed is None else int(seed)
    return tf.data.Dataset.from_generator(lambda: self.examples(seed), output_signature=FEATURES)


@dataclasses.dataclass(frozen=True)
class FormattedSource(SourceTask):
  """One seqio task's data: `source` rendered in format `fmt`."""
  source: Source
  fmt: str
  task_name: str

  def examples(self, seed: int = 0, budget: int | None = None) -> Iterator[dict]:
    fmt = FORMATS[self.fmt]
    budget = input_budget() if budget is None else budget
    reader = self.source.reader
    pool = reader.exemplars()
    for index, (record, neighbours) in enumerate(with_neighbours(reader.records())):
      rng = random.Random(f"{seed}/{self.task_name}/{index}")
      exemplars: Sequence[dict] = (pool if pool is not None else neighbours) if fmt.few_shot else ()
      out = render(record, self.source.task_type, fmt, rng, exemplars, _count_tokens, budget)
      yield {
          "inputs": out.inputs,
          "targets": out.targets,
          "task": self.source.dataset,
          "family": self.source.family,
          "template": int(record.get("template_id", out.template)),
          "format": self.fmt,
      }
