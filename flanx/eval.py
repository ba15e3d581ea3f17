r"""Score a checkpoint on the held-out suite and print the paper's Table 5 row.

  python -m flanx.eval --gin_file=gin/runs/eval.gin --gin.CHECKPOINT_PATH="'runs/demo/checkpoint_600'" \
      --gin.EVAL_SUITE="'flan_heldout'"        # or a list: --gin.EVAL_SUITE="['mmlu_direct', 'bbh_direct']"

The model comes from a model gin file given on the command line (one that defines MODEL), or else from the
config.gin that training saved in the checkpoint's MODEL_DIR. Results go to MODEL_DIR/eval/<step>/ (see
docs/evaluation.md). flanx/heldout.py runs the same evaluation from inside the training loop.

A model sharded over several hosts: run the same command on every host with --multihost (TPU VMs) or
--coordinator_address=HOST:PORT --num_processes=N --process_id=I, as for training; only process 0 prints and
writes.
"""

import sys

if __name__ == "__main__":
  # `python -m flanx.eval`: through the `flanx` command (quiet start-up, --help before heavy imports), which
  # runs the importable module so gin registers its configurables once (see flanx.train).
  from flanx import cli

  sys.exit(cli.main(["eval", *sys.argv[1:]], prog="flanx.eval"))

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import gin
import jax

from flanx import (best_checkpoint, checkpoints, data_dir, distributed, errors, gin_config, heldout, partitioning,
                   storage)
from flanx.errors import FlanxError

# --- the command ------------------------------------------------------------------------------------------------


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """What gin/runs/eval.gin binds. model_dir None: the checkpoint's MODEL_DIR."""
  model: Any
  checkpoint_path: str
  suite: str | Sequence[str] = "flan_heldout"  # a suite's name, or a list of names evaluated one after another
  split: str = "validation"
  # None: each setting's own (inputs: its longest prompt; targets: its longest exemplar answer plus a margin).
  feature_lengths: dict = dataclasses.field(default_factory=lambda: {"inputs": None, "targets": None})
  max_input_length: int | None = None  # the model's context: longer prompts lose exemplars (None: any length)
  batch_size: int = 8
  num_examples: int | None = None
  self_consistency: bool = False
  model_dir: str | None = None
  partition: partitioning.PartitionConfig = partitioning.PartitionConfig()


_SHAPE_LENGTH = 8
# Results of another split go to eval/<step>/<split>/ (evaluation/results.py); 'train' is not held out.
EVAL_SPLITS = ("validation", "test")


def check(config: EvalConfig) -> None:
  """Every value a user sets in eval.gin, checked before the checkpoint is read."""
  errors.require_str("CHECKPOINT_PATH", config.checkpoint_path)
  heldout.suite_names(config.suite)  # one name or a list of them, each a known suite
  if config.split not in EVAL_SPLITS:
    raise FlanxError(f"EVAL_SPLIT={config.split!r}: the held-out suites are scored on {' or '.join(EVAL_SPLITS)}")
  _check_lengths(config.feature_lengths)
  errors.positive_int("EVAL_MAX_INPUT_LENGTH", config.max_input_length, optional=True, minimum=2)
  errors.positive_int("EVAL_BATCH_SIZE", config.batch_size)
  errors.positive_int("EVAL_NUM_EXAMPLES", config.num_examples, optional=True)
  if config.model_dir is not None:
    errors.require_str("EVAL_MODEL_DIR", config.model_dir)
    errors.writable_dir("EVAL_MODEL_DIR", config.model_dir)
    storage.output_dir_outside_checkpoints("EVAL_MODEL_DIR", config.model_dir)


def output_dir(config: EvalConfig) -> tuple[str, str]:
  """Where results go (EVAL_MODEL_DIR, else the checkpoint's MODEL_DIR) and the name an error line gives it;
  checked writable before the checkpoint is restored, so a read-only run is one line, not a lost evaluation."""
  if config.model_dir is not None:
    return config.model_dir, "EVAL_MODEL_DIR"
  model_dir, name = str(checkpoints.locate(config.checkpoint_path).model_dir), "MODEL_DIR of CHECKPOINT_PATH"
  try:
    errors.writable_dir(name, model_dir)
  except FlanxError as e:
    raise FlanxError(f"{e}; set EVAL_MODEL_DIR to write the results elsewhere") from None
  return model_dir, name


def _check_lengths(value) -> None:
  """{'inputs': N or None, 'targets': M or None}: None is each setting's own length (evaluation/lengths.py)."""
  if not isinstance(value, Mapping):
    raise FlanxError(f"EVAL_FEATURE_LENGTHS={value!r} must be a dict like {{'inputs': None, 'targets': 256}}")
  missing = [k for k in ("inputs", "targets") if k not in value]
  if missing:
    raise FlanxError(f"EVAL_FEATURE_LENGTHS={dict(value)!r} has no {missing[0]!r} length (needs 'inputs' and "
                     f"'targets', each a positive integer or None for each setting's own)")
  for key, length in value.items():
    errors.positive_int(f"EVAL_FEATURE_LENGTHS[{key!r}]", length, optional=True)


def main(argv: Sequence[str]) -> int:
  processes, argv = distributed.split_args(argv)
  config = gin_config.checkpoint_command_config(argv, EvalConfig, example="gin/runs/eval.gin")
  context = data_dir.resolve().with_vocabulary(config.model.vocabulary)
  check(config)  # unknown suites fail before the checkpoint is read
  model_dir, output_name = output_dir(config)
  distributed.initialize(processes)  # after the checks, before anything touches a device
  data_dir.install(context)
  # The lengths only shape the abstract parameters here (flanx's models have no length-sized parameters).
  shape_lengths = {k: v or _SHAPE_LENGTH for k, v in config.feature_lengths.items()}
  loaded = checkpoints.restore_for_inference(config.model, config.checkpoint_path, shape_lengths, config.partition,
                                             settings="EVAL_NUM_PARTITIONS",
                                             names=partitioning.LayoutNames.scoped("eval", "EVAL_NUM_PARTITIONS"))
  fns = heldout.ModelFns(loaded.decoder, loaded.params, config.batch_size, config.feature_lengths["targets"])
  heldout.run_suite(fns, config.suite, loaded.ref.step, model_dir, config.model.vocabulary,
                    dict(config.feature_lengths), config.split, config.num_examples, config.self_consistency,
                    progress=jax.process_index() == 0, max_input_length=config.max_input_length,
                    output_name=output_name)
  if jax.process_index() == 0:
    from flanx.evaluation import results as results_lib
    out_dir = results_lib.eval_dir(model_dir, loaded.ref.step, config.split)
    print((out_dir / results_lib.TABLE_MD).read_text())
    print(f"flanx: evaluation of step {loaded.ref.step} written to {out_dir}", flush=True)
    if config.split == "validation" and (best := best_checkpoint.report(model_dir)):
      print(best, flush=True)  # the paper's checkpoint selection: the best held-out step evaluated so far
  return 0

