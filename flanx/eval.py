r"""Score a checkpoint on the held-out suite and print the paper's Table 5 row.

  python -m flanx.eval --gin_file=gin/runs/eval.gin --gin.CHECKPOINT_PATH="'runs/demo/checkpoint_600'" \
      --gin.EVAL_SUITE="'flan_heldout'"

The model comes from a model gin file given on the command line (one that defines MODEL), or else from the
config.gin that training saved in the checkpoint's MODEL_DIR. Results go to MODEL_DIR/eval/<step>/ (see
docs/evaluation.md). `training_evaluator` runs the same evaluation from inside the training loop.
"""

import dataclasses
import os
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

import gin
import jax
import numpy as np
import orbax.checkpoint as ocp

from flanx import checkpoints, data_dir, decoding, gin_config, partitioning
from flanx.errors import FlanxError
from flanx.optimizer import OptimizerConfig
from flanx.trainer import Trainer

if __name__ == "__main__":
  # `python -m flanx.eval`: run the importable module so gin registers its configurables once (see flanx.train).
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  from flanx import cli, eval as _importable

  sys.exit(cli.run(_importable.main, sys.argv[1:], prog="flanx.eval"))

# --- checkpoints -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CheckpointRef:
  params_dir: pathlib.Path
  step: int
  model_dir: pathlib.Path  # where training wrote config.gin, and where eval/<step>/ goes


def locate(path: str) -> CheckpointRef:
  """A step directory (run/checkpoint_600) or a model directory (its newest checkpoint)."""
  try:
    params_dir = checkpoints.resolve_initial_checkpoint(path)
  except FlanxError as e:
    raise FlanxError(str(e).replace("INITIAL_CHECKPOINT_PATH", "CHECKPOINT_PATH")) from e
  step_dir = params_dir.parent
  suffix = step_dir.name.rpartition("_")[2]
  return CheckpointRef(params_dir.absolute(), int(suffix) if suffix.isdigit() else 0, step_dir.parent.absolute())


def _path_name(path) -> str:
  return "/".join(str(getattr(k, "key", k)) for k in path)


def check_compatible(ref: CheckpointRef, abstract_params, model) -> None:
  """One line naming the first parameter whose name or shape differs, before orbax sees the checkpoint."""
  vocab_size = model.vocabulary.vocab_size
  if vocab_size > model.config.vocab_size:
    raise FlanxError(f"the vocabulary has {vocab_size} ids but the model embeds only {model.config.vocab_size} "
                     f"(NUM_EMBEDDINGS)")
  try:
    saved = ocp.StandardCheckpointer().metadata(ref.params_dir).item_metadata
  except (ValueError, FileNotFoundError, OSError) as e:
    raise FlanxError(f"CHECKPOINT_PATH {ref.params_dir} is not a readable orbax checkpoint: {e}") from e
  saved = {_path_name(p): tuple(m.shape) for p, m in jax.tree_util.tree_flatten_with_path(saved)[0]}
  wanted = {_path_name(p): tuple(a.shape) for p, a in jax.tree_util.tree_flatten_with_path(abstract_params)[0]}
  for name, shape in wanted.items():
    if name not in saved:
      raise FlanxError(f"checkpoint {ref.params_dir.parent} does not match the model: it has no parameter {name}")
    if saved[name] != shape:
      hint = " (a different vocabulary size)" if "embedding" in name or "logits_dense" in name else ""
      raise FlanxError(f"checkpoint {ref.params_dir.parent} does not match the model: parameter {name} has shape "
                       f"{saved[name]} in the checkpoint but {shape} in the model{hint}")
  extra = sorted(set(saved) - set(wanted))
  if extra:
    raise FlanxError(f"checkpoint {ref.params_dir.parent} does not match the model: the model has no parameter {extra[0]}")


@dataclasses.dataclass
class Loaded:
  """A restored model, ready to decode."""
  model: Any
  trainer: Trainer
  params: Any
  ref: CheckpointRef

  @property
  def decoder(self) -> decoding.Decoder:
    return decoding.Decoder.from_trainer(self.trainer)


def restore(model, checkpoint_path: str, feature_lengths: dict[str, int],
            partition: partitioning.PartitionConfig = partitioning.PartitionConfig()) -> Loaded:
  """Restores the checkpoint's parameters straight into the trainer's shardings."""
  ref = locate(checkpoint_path)
  trainer = Trainer(model, OptimizerConfig(), partitioning.make_mesh(partition), partition.logical_rules(),
                    feature_lengths)
  abstract = trainer.abstract_state().params
  check_compatible(ref, abstract, model)
  params = ocp.StandardCheckpointer().restore(ref.params_dir, abstract)
  return Loaded(model, trainer, params, ref)


# --- seqio-format model functions ----------------------------------------------------------------------------


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
  max_length: int

  def _eos(self) -> int:
    return self.decoder.model.vocabulary.eos_id

  def predict(self, dataset) -> list[tuple[int, list[int]]]:
    out = []
    for indices, batch in _batches(dataset, self.batch_size):
      decoded = self.decoder.generate(self.params, decoding.prompt_tokens(batch), self.max_length)
      out += [(i, decoding.trim(t[0], self._eos())) for i, t in zip(indices, decoded.tokens)]
    return out

  def sample(self, dataset, num_samples: int, temperature: float) -> list[tuple[int, list[list[int]]]]:
    out = []
    for n, (indices, batch) in enumerate(_batches(dataset, self.batch_size)):
      decoded = self.decoder.generate(self.params, decoding.prompt_tokens(batch), self.max_length,
                                      decoding.Sampling(temperature), num_samples, seed=n)
      out += [(i, [decoding.trim(s, self._eos()) for s in t]) for i, t in zip(indices, decoded.tokens)]
    return out

  def score(self, dataset) -> list[tuple[int, float]]:
    out = []
    for indices, batch in _batches(dataset, self.batch_size):
      out += list(zip(indices, self.decoder.score(self.params, batch).astype(float).tolist()))
    return out


def run_suite(model_fns: ModelFns, suite: str, step: int, model_dir: str | os.PathLike, vocabulary,
              feature_lengths: dict[str, int], split: str = "validation", num_examples: int | None = None,
              self_consistency: bool = False, progress: bool = True) -> dict:
  from flanx.evaluation import evaluator  # noqa: PLC0415  (imports tensorflow)
  from tasks.evals import suites  # noqa: PLC0415  the benchmarks register their suites; the evaluator gets one
  # The model's own converter (unpacked): encoder features for T5, one prefix-LM sequence for PaLM.
  converter = model_fns.decoder.model.feature_converter(pack=False)
  return evaluator.evaluate(suites.get(suite), model_fns.predict, model_fns.score, step=step, model_dir=str(model_dir),
                            vocabulary=vocabulary, feature_lengths=feature_lengths, split=split,
                            feature_converter=converter,
                            sample_fn=model_fns.sample if self_consistency else None,
                            num_examples=num_examples, progress=progress)


def training_evaluator(suite: str, *, model_dir: str | os.PathLike, feature_lengths: dict[str, int],
                       batch_size: int = 8, num_examples: int | None = None, split: str = "validation",
                       progress: bool = False) -> Callable[[int, Trainer, Any], dict]:
  """For the training loop: `evaluator(step, trainer, params)` evaluates the live parameters on `suite`,
  writes MODEL_DIR/eval/<step>/ and returns the Table 5 row."""
  from tasks.evals import suites  # noqa: PLC0415
  suites.get(suite)  # an unknown suite fails before training starts

  def evaluate(step: int, trainer: Trainer, params) -> dict:
    fns = ModelFns(decoding.Decoder.from_trainer(trainer), params, batch_size, feature_lengths["targets"])
    return run_suite(fns, suite, step, model_dir, trainer.model.vocabulary, feature_lengths, split, num_examples,
                     progress=progress)["table5"]
  return evaluate


# --- the command ------------------------------------------------------------------------------------------------


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """What gin/runs/eval.gin binds. model_dir None: the checkpoint's MODEL_DIR."""
  model: Any
  checkpoint_path: str
  suite: str = "flan_heldout"
  split: str = "validation"
  feature_lengths: dict = dataclasses.field(default_factory=lambda: {"inputs": 2048, "targets": 256})
  batch_size: int = 8
  num_examples: int | None = None
  self_consistency: bool = False
  model_dir: str | None = None
  partition: partitioning.PartitionConfig = partitioning.PartitionConfig()


def parse_with_saved_config(gin_files: Sequence[str], bindings: Sequence[str], checkpoint_path: str | None = None) -> None:
  """Parses the command's gin; without a model (no MODEL macro) puts the checkpoint's config.gin first."""
  import flanx.models  # noqa: F401, PLC0415  registers the configurables that gin files and config.gin name
  import flanx.train  # noqa: F401, PLC0415
  import tasks  # noqa: F401, PLC0415
  gin_config.parse(gin_files, bindings, finalize=False)
  if "MODEL" in gin_config._defined_macros():  # noqa: SLF001
    return
  path = checkpoint_path or gin.query_parameter("%CHECKPOINT_PATH")
  if not path:
    raise FlanxError("no model: give a model gin file, or a CHECKPOINT_PATH whose MODEL_DIR holds config.gin")
  saved = locate(path).model_dir / "config.gin"
  if not saved.is_file():
    raise FlanxError(f"no model: {saved} does not exist; give a model gin file (e.g. gin/models/t5_1_1/small.gin)")
  gin_config.parse([str(saved), *gin_files], bindings, finalize=False)


def main(argv: Sequence[str]) -> int:
  gin_files, bindings, rest = gin_config.split_args(argv)
  gin_config.check_command_line(gin_files, rest, example="gin/runs/eval.gin")
  parse_with_saved_config(gin_files, bindings)
  try:
    config = EvalConfig()
    context = data_dir.resolve().with_vocabulary(config.model.vocabulary)
  except TypeError as e:
    raise gin_config.call_error(e) from e
  from tasks.evals import suites  # noqa: PLC0415
  suites.get(config.suite)  # unknown suites fail before the checkpoint is read
  data_dir.install(context)
  loaded = restore(config.model, config.checkpoint_path, dict(config.feature_lengths), config.partition)
  fns = ModelFns(loaded.decoder, loaded.params, config.batch_size, config.feature_lengths["targets"])
  model_dir = config.model_dir or loaded.ref.model_dir
  results = run_suite(fns, config.suite, loaded.ref.step, model_dir, config.model.vocabulary,
                      dict(config.feature_lengths), config.split, config.num_examples, config.self_consistency,
                      progress=jax.process_index() == 0)
  if jax.process_index() == 0:
    from flanx.evaluation import results as results_lib  # noqa: PLC0415
    out_dir = results_lib.eval_dir(model_dir, loaded.ref.step, config.split)
    print((out_dir / results_lib.TABLE_MD).read_text())
    print(f"flanx: evaluation of step {loaded.ref.step} written to {out_dir}", flush=True)
  return 0

