"""An evaluation example as the seqio tasks carry it: the prompt, the target, and a JSON `meta` string.

`meta` holds what scoring needs beyond the text (gold answers, group, chance, answer format and phrases), so
seqio's postprocessors and the prediction writer read one field rather than one tensor per benchmark.
"""

import dataclasses
import json

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class EvalExample:
  inputs: str                 # the full few-shot prompt
  targets: str                # the answer as an exemplar would state it (for scoring and display)
  gold: tuple[str, ...]       # every accepted answer (TyDiQA has several; the others one)
  group: str                  # MMLU subject, BBH subtask or language
  id: str
  answer_format: str          # "choice" | "text" | "number" | "span": how answers are extracted and compared
  phrases: tuple[str, ...] = ()  # "The answer is"-style phrases that precede the final answer
  stop: str = ""              # an output is cut here first (the start of a next exemplar)
  chance: float = 0.0         # probability that a uniform random guess is right, in [0, 1]

  def meta(self) -> dict:
    d = dataclasses.asdict(self)
    del d["inputs"], d["targets"]
    return d


def to_dataset(examples: list[EvalExample]) -> tf.data.Dataset:
  return tf.data.Dataset.from_tensor_slices({
      "inputs": [e.inputs for e in examples] or tf.zeros([0], tf.string),
      "targets": [e.targets for e in examples] or tf.zeros([0], tf.string),
      "meta": [json.dumps(e.meta(), ensure_ascii=False) for e in examples] or tf.zeros([0], tf.string),
  })


def meta_of(example) -> dict:
  """The meta dict of a seqio example (bytes or str `meta`), as postprocessors receive it."""
  raw = example["meta"]
  return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
