"""Greedy predictions for a task's examples, sharded like training: used by the demo and the tests."""

import dataclasses
from collections.abc import Iterator

import jax
import numpy as np
import seqio
from jax.experimental import multihost_utils

from flanx import data, partitioning
from flanx.trainer import Trainer


@dataclasses.dataclass(frozen=True)
class Prediction:
  inputs: str
  target: str
  output: str

  @property
  def exact_match(self) -> bool:
    return self.output.strip() == self.target.strip()


def _unpacked_examples(name: str, split: str, lengths: dict[str, int]) -> Iterator[dict[str, np.ndarray]]:
  ds = seqio.get_mixture_or_task(name).get_dataset(lengths, split=split, shuffle=False, num_epochs=1)
  yield from ds.as_numpy_iterator()


def predict(trainer: Trainer, params, name: str, split: str, num_examples: int, batch_size: int) -> list[Prediction]:
  """Decodes the first `num_examples` examples of `name`'s `split` with the model's greedy decoder."""
  data.check_task_name(name)
  model, lengths = trainer.model, trainer.feature_lengths
  vocabulary = model.vocabulary
  examples = []
  for ex in _unpacked_examples(name, split, lengths):
    examples.append(ex)
    if len(examples) == num_examples:
      break
  decode = jax.jit(model.greedy_decode, static_argnums=2)
  predictions = []
  for start in range(0, len(examples), batch_size):
    chunk = examples[start:start + batch_size]
    tokens = np.zeros((batch_size, lengths["inputs"]), np.int32)  # padded to a fixed, shardable shape
    for i, ex in enumerate(chunk):
      ids = ex["inputs"][:lengths["inputs"]]
      tokens[i, :len(ids)] = ids
    with trainer.context():
      # Every process holds the same full batch here, so device_put (not per-process stitching) applies.
      global_tokens = jax.device_put(tokens, partitioning.batch_sharding(trainer.mesh))
      out = np.asarray(multihost_utils.process_allgather(decode(params, global_tokens, lengths["targets"]),
                                                         tiled=True))
    for i, ex in enumerate(chunk):
      predictions.append(Prediction(inputs=vocabulary.decode(ex["inputs"].tolist()),
                                    target=vocabulary.decode(ex["targets"].tolist()),
                                    output=vocabulary.decode(out[i].tolist())))
  return predictions
