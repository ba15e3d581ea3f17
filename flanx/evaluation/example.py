"""An evaluation example as the seqio tasks carry it: the prompt, the target, and a JSON `meta` string.

This is the contract between a benchmark's loader (tasks/evals) and the scorer (this package): `meta` holds
what scoring needs beyond the text (accepted answers, group, chance, and the answers.Rule that reads outputs),
so seqio's postprocessor and the prediction writer read one field rather than one tensor per benchmark.
"""

import dataclasses
import json

import tensorflow as tf

from flanx.evaluation import answers


@dataclasses.dataclass(frozen=True)
class EvalExample:
  inputs: str                 # the full few-shot prompt
  targets: str                # the answer as an exemplar would state it (shown in the predictions file)
  gold: tuple[str, ...]       # every accepted answer, in the form answers.extract gives (spans as written)
  group: str                  # MMLU subject, BBH subtask or language
  id: str
  rule: answers.Rule          # how outputs are read
  chance: float = 0.0         # probability that a uniform random guess is right, in [0, 1]
  # Where each exemplar starts in `inputs`, then where the query starts: whole exemplars are dropped from the start
  # of a prompt too long for the input length (lengths.fit). Empty: nothing may be dropped.
  shot_starts: tuple[int, ...] = ()
  # The exemplars' answers (also for zero-shot prompts, which leave them out): they size the decode budget.
  exemplar_answers: tuple[str, ...] = ()

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


def as_text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def meta_of(example) -> dict:
  """The meta dict of a seqio example (bytes or str `meta`), as postprocessors receive it."""
  return json.loads(as_text(example["meta"]))


def rule_of(meta: dict) -> answers.Rule:
  return answers.Rule.from_json(meta["rule"])
