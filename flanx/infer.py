r"""Run a task's (or mixture's) inputs through a checkpoint, as T5X's infer does: one JSONL per task.

  python -m flanx.infer --gin_file=gin/runs/infer.gin --gin.CHECKPOINT_PATH="'runs/demo/checkpoint_600'" \
      --gin.MIXTURE_OR_TASK_NAME="'flanx_demo'" --gin.INFER_OUTPUT_DIR="'runs/demo/infer'"

Each task of the mixture gets INFER_OUTPUT_DIR/<task>-<step>.jsonl with one {"inputs", "prediction"} object
per example (plus "target" where the task has targets), written whole or not at all (temp file + rename).
As with flanx.eval, the model comes from a model gin file on the command line or from the config.gin saved
in the checkpoint's MODEL_DIR, and several hosts run it as one job (--multihost, or --coordinator_address=
HOST:PORT --num_processes=N --process_id=I on each); only process 0 writes.
"""

import sys

if __name__ == "__main__":
  # `python -m flanx.infer`: through the `flanx` command, which imports this module once by its own name so
  # gin registers InferConfig once (see flanx.train).
  from flanx import cli

  sys.exit(cli.main(["infer", *sys.argv[1:]], prog="flanx.infer"))

import dataclasses
import json
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import gin
import jax
import seqio

from flanx import (checkpoints, data_dir, distributed, errors, gin_config, host_memory, partitioning, predict,
                   storage)
from flanx.input import seqio_source


@gin.configurable
@dataclasses.dataclass(frozen=True)
class InferConfig:
  """What gin/runs/infer.gin binds. num_examples None: every example of each task's split."""
  model: Any
  checkpoint_path: str
  mixture_or_task_name: str
  output_dir: str
  split: str = "validation"
  feature_lengths: dict = dataclasses.field(default_factory=lambda: {"inputs": 512, "targets": 64})
  batch_size: int = 8
  num_examples: int | None = None
  beam_size: int = 1
  partition: partitioning.PartitionConfig = partitioning.PartitionConfig()


def task_names(name: str) -> list[str]:
  """A task's own name, or every task of a mixture (a mixture's examples are written per task, as T5X does)."""
  provider = seqio.get_mixture_or_task(name)
  return [t.name for t in provider.tasks] if isinstance(provider, seqio.Mixture) else [provider.name]


def check_split(name: str, split: str) -> None:
  """Every task to predict has INFER_SPLIT (seqio would fail on the first task without it, after the restore)."""
  for task in task_names(name):
    splits = list(seqio.get_mixture_or_task(task).splits)
    if split not in splits:
      raise errors.FlanxError(f"INFER_SPLIT={split!r}: task {task!r} has no such split (it has "
                       f"{', '.join(map(repr, splits))}){errors.closest(split, splits)}")


def output_path(output_dir: str | os.PathLike, task: str, step: int) -> pathlib.Path:
  return pathlib.Path(output_dir) / f"{task}-{step}.jsonl"


def rows(predictions: list[predict.Prediction], with_targets: bool) -> str:
  out = []
  for p in predictions:
    row = {"inputs": p.inputs, "prediction": p.output}
    if with_targets:
      row["target"] = p.target
    out.append(json.dumps(row, ensure_ascii=False))
  return "".join(line + "\n" for line in out)


def read_examples(config: InferConfig) -> dict[str, list[dict]]:
  """Each task's examples to predict, read before the checkpoint is restored."""
  return {task: predict.examples(task, config.split, dict(config.feature_lengths), config.num_examples)
          for task in task_names(config.mixture_or_task_name)}


def check_room(config: InferConfig, examples: dict[str, list[dict]], vocabulary) -> None:
  """A disk clearly too full for the predictions (they repeat every input) is one line before any decoding."""
  repeated = sum(len(json.dumps(predict.input_text(ex, vocabulary), ensure_ascii=False).encode("utf-8"))
                 for exs in examples.values() for ex in exs)
  storage.require_room("INFER_OUTPUT_DIR", config.output_dir, repeated, "the predictions' inputs alone")


def run(config: InferConfig, loaded: checkpoints.Loaded, examples: dict[str, list[dict]]) -> list[pathlib.Path]:
  lengths = dict(config.feature_lengths)
  written = []
  for task, exs in examples.items():
    predictions = predict.decode_examples(loaded.decoder, loaded.params, exs, lengths, config.batch_size,
                                          config.beam_size)
    with_targets = bool(exs) and ("targets" in exs[0] or "targets_pretokenized" in exs[0])
    path = output_path(config.output_dir, task, loaded.ref.step)
    if jax.process_index() == 0:
      storage.write_atomic(path, rows(predictions, with_targets), name="INFER_OUTPUT_DIR")
    written.append(path)
  return written


def check(config: InferConfig) -> None:
  """Every value a user sets in infer.gin, checked before the checkpoint is read."""
  errors.require_str("CHECKPOINT_PATH", config.checkpoint_path)
  errors.require_str("MIXTURE_OR_TASK_NAME", config.mixture_or_task_name)
  errors.require_str("INFER_OUTPUT_DIR", config.output_dir)
  errors.writable_dir("INFER_OUTPUT_DIR", config.output_dir)
  storage.output_dir_outside_checkpoints("INFER_OUTPUT_DIR", config.output_dir)
  errors.require_str("INFER_SPLIT", config.split)
  errors.feature_lengths("INFER_FEATURE_LENGTHS", config.feature_lengths)
  errors.positive_int("INFER_BATCH_SIZE", config.batch_size)
  errors.positive_int("INFER_NUM_EXAMPLES", config.num_examples, optional=True)
  errors.positive_int("INFER_BEAM_SIZE", config.beam_size)


def main(argv: Sequence[str]) -> int:
  processes, argv = distributed.split_args(argv)
  config = gin_config.checkpoint_command_config(argv, InferConfig, example="gin/runs/infer.gin")
  context = data_dir.resolve().with_vocabulary(config.model.vocabulary)
  check(config)
  data_dir.install(context)
  seqio_source.check_task_name(config.mixture_or_task_name)  # an unknown name fails before the checkpoint is read
  check_split(config.mixture_or_task_name, config.split)
  checkpoints.locate(config.checkpoint_path)  # a missing or wrong CHECKPOINT_PATH fails before the data is read
  examples = read_examples(config)
  distributed.initialize(processes)  # after the checks, before anything touches a device
  lengths = config.feature_lengths  # decoding them must fit in memory: checked before the restore and the compile
  host_memory.check_fits(config.model.config, config.batch_size * config.beam_size, lengths["inputs"],
                         lengths["targets"], f"decoding INFER_BATCH_SIZE={config.batch_size} x INFER_BEAM_SIZE="
                         f"{config.beam_size} rows of INFER_FEATURE_LENGTHS={dict(lengths)}",
                         "lower INFER_FEATURE_LENGTHS or INFER_BATCH_SIZE")
  if jax.process_index() == 0:
    check_room(config, examples, config.model.vocabulary)
  loaded = checkpoints.restore_for_inference(config.model, config.checkpoint_path, dict(config.feature_lengths),
                                             config.partition, settings="INFER_NUM_PARTITIONS",
                                             names=partitioning.LayoutNames.scoped("infer", "INFER_NUM_PARTITIONS"))
  for path in run(config, loaded, examples):
    if jax.process_index() == 0:  # the only writer
      print(f"flanx: predictions of step {loaded.ref.step} written to {path}", flush=True)
  return 0
