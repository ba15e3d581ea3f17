"""Greedy predictions for a task's examples with the KV-cached decoder, for either model kind.

Used by train.py's show_predictions, by `python -m flanx.infer` and by the tests.
"""

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import seqio

from flanx import data, decoding


@dataclasses.dataclass(frozen=True)
class Prediction:
  inputs: str
  target: str
  output: str

  @property
  def exact_match(self) -> bool:
    return self.output.strip() == self.target.strip()


def examples(name: str, split: str, lengths: Mapping[str, int], num_examples: int | None) -> list[dict[str, Any]]:
  """The first `num_examples` (None: all) preprocessed examples of a task or mixture, in order, as numpy."""
  data.check_task_name(name)
  ds = seqio.get_mixture_or_task(name).get_dataset(dict(lengths), split=split, shuffle=False, num_epochs=1)
  out: list[dict[str, Any]] = []
  for ex in ds.as_numpy_iterator():
    if num_examples is not None and len(out) == num_examples:
      break
    out.append(ex)
  return out


def _text(ex: Mapping[str, Any], key: str, vocabulary) -> str:
  """The task's own text where it keeps one (`inputs_pretokenized`), else the decoded ids."""
  raw = ex.get(f"{key}_pretokenized")
  if raw is not None:
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
  return vocabulary.decode(np.asarray(ex[key]).tolist()) if key in ex else ""


def _batches(rows: list, size: int) -> Iterator[list]:
  for start in range(0, len(rows), size):
    yield rows[start:start + size]


def decode_examples(decoder: decoding.Decoder, params, exs: list[Mapping[str, Any]], lengths: Mapping[str, int],
                    batch_size: int, beam_size: int = 1) -> list[Prediction]:
  """Greedy (or beam) outputs of at most lengths['targets'] tokens for each example's inputs."""
  vocabulary = decoder.model.vocabulary
  predictions = []
  for chunk in _batches(exs, batch_size):
    # A fixed (batch_size, input length) shape: one compilation for every chunk, the last one included.
    tokens = decoding.token_rows([ex["inputs"] for ex in chunk], lengths["inputs"], batch_size)
    if beam_size > 1:
      out = decoder.beam_search(params, tokens, lengths["targets"], beam_size)
    else:
      out = decoder.generate(params, tokens, lengths["targets"])
    for ex, row in zip(chunk, out.tokens):
      predictions.append(Prediction(inputs=_text(ex, "inputs", vocabulary), target=_text(ex, "targets", vocabulary),
                                    output=vocabulary.decode(decoding.trim(row[0], vocabulary.eos_id))))
  return predictions


def predict(decoder: decoding.Decoder, params, feature_lengths: Mapping[str, int], name: str, split: str,
            num_examples: int, batch_size: int) -> list[Prediction]:
  """Greedily decodes the first `num_examples` examples of `name`'s `split`."""
  return decode_examples(decoder, params, examples(name, split, feature_lengths, num_examples), feature_lengths,
                         batch_size)
