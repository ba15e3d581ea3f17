"""Greedy (or beam) predictions with the KV-cached decoder, for either model kind: the one path from prompts to
output ids (`decode_prompts`), and a task's examples to text (`decode_examples`).

Used by train.py's show_predictions, by `python -m flanx.infer`, by heldout.ModelFns (the evaluator's predict_fn)
and by the tests.
"""

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import seqio

from flanx import decoding
from flanx.input import seqio_source


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
  seqio_source.check_task_name(name)
  ds = seqio.get_mixture_or_task(name).get_dataset(dict(lengths), split=split, shuffle=False, num_epochs=1)
  out: list[dict[str, Any]] = []
  for ex in ds.as_numpy_iterator():
    if num_examples is not None and len(out) == num_examples:
      break
    out.append(ex)
  return out


def input_text(ex: Mapping[str, Any], vocabulary) -> str:
  """What a prediction shows as the example's inputs."""
  return _text(ex, "inputs", vocabulary)


def _text(ex: Mapping[str, Any], key: str, vocabulary) -> str:
  """The task's own text where it keeps one (`inputs_pretokenized`), else the decoded ids."""
  raw = ex.get(f"{key}_pretokenized")
  if raw is not None:
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
  return vocabulary.decode(np.asarray(ex[key]).tolist()) if key in ex else ""


def _batches(rows: list, size: int) -> Iterator[list]:
  for start in range(0, len(rows), size):
    yield rows[start:start + size]


def decode_prompts(decoder: decoding.Decoder, params, prompts, max_length: int, *, num_rows: int | None = None,
                   width: int | None = None, beam_size: int = 1) -> list[list[int]]:
  """The best output (greedy, or the top beam) of at most `max_length` ids for each prompt, cut at EOS.

  prompts: token-id rows (a list or an array), 0-padded to `width` (default: the longest). num_rows pads the batch
  with empty rows to a fixed shape, so every batch of a run, the last one included, shares one compilation.
  """
  rows = decoding.token_rows(prompts, width, num_rows)
  if beam_size > 1:
    out = decoder.beam_search(params, rows, max_length, beam_size)
  else:
    out = decoder.generate(params, rows, max_length)
  eos = decoder.model.vocabulary.eos_id
  return [decoding.trim(best[0], eos) for best in out.tokens[:len(prompts)]]


def decode_examples(decoder: decoding.Decoder, params, exs: list[Mapping[str, Any]], lengths: Mapping[str, int],
                    batch_size: int, beam_size: int = 1) -> list[Prediction]:
  """Greedy (or beam) outputs of at most lengths['targets'] tokens for each example's inputs, as text."""
  vocabulary = decoder.model.vocabulary
  predictions = []
  for chunk in _batches(exs, batch_size):
    outputs = decode_prompts(decoder, params, [ex["inputs"] for ex in chunk], lengths["targets"],
                             num_rows=batch_size, width=lengths["inputs"], beam_size=beam_size)
    for ex, ids in zip(chunk, outputs):
      predictions.append(Prediction(inputs=input_text(ex, vocabulary), target=_text(ex, "targets", vocabulary),
                                    output=vocabulary.decode(ids)))
  return predictions


def predict(decoder: decoding.Decoder, params, feature_lengths: Mapping[str, int], name: str, split: str,
            num_examples: int, batch_size: int) -> list[Prediction]:
  """Greedily decodes the first `num_examples` examples of `name`'s `split`."""
  return decode_examples(decoder, params, examples(name, split, feature_lengths, num_examples), feature_lengths,
                         batch_size)
