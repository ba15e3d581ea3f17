"""Held-out evaluation of live parameters: the seqio-format model functions the evaluator calls, and the
evaluator that the training loop runs every EVAL_PERIOD steps. `flanx eval` runs the same code on a checkpoint.

No gin configurables here, so the training loop can import it after gin's configuration is locked.
In a multi-process job every process runs the same evaluation (the decoder takes each process's identical copy
of a batch as one global array); only process 0 writes the files (flanx/evaluation/evaluator.py).
"""

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from flanx import decoding, predict
from flanx.errors import FlanxError
from flanx.trainer import Trainer


def _batches(dataset, batch_size: int):
  """(indices, features) chunks of an enumerated seqio dataset, as numpy."""
  indices, rows = [], []
  for index, features in dataset.as_numpy_iterator():
    indices.append(int(index))
    rows.append(features)
    if len(rows) == batch_size:
      yield indices, {k: np.stack([r[k] for r in rows]) for k in rows[0]}
      indices, rows = [], []
  if rows:
    yield indices, {k: np.stack([r[k] for r in rows]) for k in rows[0]}


@dataclasses.dataclass
class ModelFns:
  """predict_fn, sample_fn and score_fn in the format flanx.evaluation.evaluator.evaluate takes."""
  decoder: decoding.Decoder
  params: Any
  batch_size: int
  max_length: int | None = None  # outputs' length when the evaluator does not give a setting's decode budget

  def _eos(self) -> int:
    return self.decoder.model.vocabulary.eos_id

  def predict(self, dataset, max_length: int | None = None) -> list[tuple[int, list[int]]]:
    out = []
    for indices, batch in _batches(dataset, self.batch_size):
      outputs = predict.decode_prompts(self.decoder, self.params, decoding.prompt_tokens(batch),
                                       max_length or self.max_length, num_rows=self.batch_size)
      out += list(zip(indices, outputs))
    return out

  def sample(self, dataset, num_samples: int, temperature: float,
             max_length: int | None = None) -> list[tuple[int, list[list[int]]]]:
    out = []
    for n, (indices, batch) in enumerate(_batches(dataset, self.batch_size)):
      decoded = self.decoder.generate(self.params, decoding.prompt_tokens(batch), max_length or self.max_length,
                                      decoding.Sampling(temperature), num_samples, seed=n)
      out += [(i, [decoding.trim(s, self._eos()) for s in t]) for i, t in zip(indices, decoded.tokens)]
    return out

  def score(self, dataset) -> list[tuple[int, float]]:
    out = []
    for indices, batch in _batches(dataset, self.batch_size):
      out += list(zip(indices, self.decoder.score(self.params, batch).astype(float).tolist()))
    return out


def suite_names(value, name: str = "EVAL_SUITE") -> list[str]:
  """EVAL_SUITE as a list of known suite names: one name, or a list or tuple of them (evaluated in that order
  into the same results); anything else, or an unknown name (with the closest suite), is one line."""
  from tasks.evals import suites
  names = [value] if isinstance(value, str) else value
  if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) and n.strip() for n in names):
    raise FlanxError(f"{name}={value!r} must be a suite name or a list of them (quote them: "
                     f"--gin.{name}=\"'flan_heldout'\" or --gin.{name}=\"['mmlu_direct', 'bbh_direct']\")")
  for n in names:
    try:
      suites.get(n)
    except FlanxError as e:
      raise FlanxError(f"{name}={value!r}: {e}") from None
  return list(dict.fromkeys(names))


def run_suite(model_fns: ModelFns, suite: str | Sequence[str], step: int, model_dir: str | os.PathLike, vocabulary,
              feature_lengths: dict[str, int | None], split: str = "validation", num_examples: int | None = None,
              self_consistency: bool = False, progress: bool = True, max_input_length: int | None = None,
              output_name: str = "MODEL_DIR") -> dict:
  """Evaluates one suite, or each of a list in turn into the same eval/<step>/ (results merge, so the last
  returned covers them all; a setting two suites share is evaluated once)."""
  from flanx.evaluation import evaluator  # imports tensorflow
  from tasks.evals import suites  # the benchmarks register their suites; the evaluator gets one
  # The model's own converter (unpacked): encoder features for T5, one prefix-LM sequence for PaLM.
  converter = model_fns.decoder.model.feature_converter(pack=False)
  done, results = set(), {}
  for name in suite_names(suite):
    chosen = suites.get(name)
    chosen = dataclasses.replace(chosen, settings=tuple(s for s in chosen.settings if s.name not in done))
    if not chosen.settings:
      continue
    done |= {s.name for s in chosen.settings}
    results = evaluator.evaluate(chosen, model_fns.predict, model_fns.score, step=step, model_dir=str(model_dir),
                                 vocabulary=vocabulary, feature_lengths=feature_lengths, split=split,
                                 feature_converter=converter,
                                 sample_fn=model_fns.sample if self_consistency else None,
                                 num_examples=num_examples, progress=progress, max_input_length=max_input_length,
                                 output_name=output_name)
  return results


def training_evaluator(suite: str | Sequence[str], *, model_dir: str | os.PathLike, feature_lengths: dict[str, int],
                       batch_size: int = 8, num_examples: int | None = None, split: str = "validation",
                       progress: bool = False) -> Callable[[int, Trainer, Any], dict]:
  """For the training loop: `evaluator(step, trainer, params)` evaluates the live parameters on `suite` (a name
  or a list of names), writes MODEL_DIR/eval/<step>/ and returns the Table 5 row of everything evaluated there."""
  suite_names(suite)  # an unknown suite fails before training starts

  def evaluate(step: int, trainer: Trainer, params) -> dict:
    fns = ModelFns(decoding.Decoder.from_trainer(trainer), params, batch_size, feature_lengths["targets"])
    return run_suite(fns, suite, step, model_dir, trainer.model.vocabulary, feature_lengths, split, num_examples,
                     progress=progress)["table5"]
  return evaluate
