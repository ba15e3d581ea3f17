r"""Finetune a model, configured entirely by gin, in T5X's shape.

  python -m flanx.train --gin_file=gin/runs/finetune.gin --gin_file=gin/models/t5_1_1/small.gin \
      --gin.MODEL_DIR="'runs/small'" --gin.MIXTURE_OR_TASK_NAME="'flan2022_proportion_b'"

Run the same command on every host. MODEL_DIR receives checkpoint_<step>/ directories, config.gin (the
operative config), train_metrics.jsonl and TensorBoard summaries under train/.
"""

import sys

if __name__ == "__main__":
  # `python -m flanx.train`: a multi-process run first starts its light supervisor (flanx/supervisor.py),
  # before the heavy imports below. Otherwise hand over to the importable module before this copy defines
  # its gin configurables, so gin sees each configurable once (as flanx.train.*, never __main__.*).
  # `flanx train` does both, and answers --help and quiets start-up first.
  from flanx import cli

  sys.exit(cli.main(["train", *sys.argv[1:]], prog="flanx.train"))

import dataclasses
import os
import time
from collections.abc import Sequence

import gin
import jax
from etils import epath

from flanx import (best_checkpoint, checkpoints, data_dir, decoding, distributed, errors, gin_config, nonfinite,
                   partitioning, predict, preemption, records, run_lock, summaries)
from flanx.errors import FlanxError
from flanx.input import layout, pipeline, seqio_source
from flanx.input.config import DatasetConfig
from flanx.models import blockwise_attention
from flanx.flops import process_peak_flops
from flanx.optimizer import OptimizerConfig
from flanx.trainer import Trainer, TrainState


@dataclasses.dataclass
class TrainResult:
  step: int
  metrics: dict
  model_dir: epath.Path
  checkpoint_steps: list[int]
  trainer: Trainer
  state: TrainState
  preempted: bool = False  # stopped early by SIGTERM, after checkpointing


def _check_writable(model_dir) -> None:
  try:
    model_dir.mkdir(parents=True, exist_ok=True)
    probe = model_dir / f".write_probe_{jax.process_index()}"
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    raise FlanxError(f"MODEL_DIR={model_dir} is not writable: {e.strerror or e}") from e


def _check_settings(model_dir, train_steps: int, train_dataset_cfg: DatasetConfig, checkpoint_period: int,
                    keep_checkpoints: int | None, log_period: int, eval_period: int, eval_examples: int | None,
                    num_microbatches: int, show_predictions: int, host_sync_period: int,
                    max_consecutive_skips: int, restart_on_damaged_checkpoints: bool) -> None:
  """Every run-level value, checked before anything is built or written; the names are the gin macros."""
  if not isinstance(model_dir, os.PathLike):
    errors.require_str("MODEL_DIR", model_dir)
  errors.positive_int("TRAIN_STEPS", train_steps)
  errors.require_str("MIXTURE_OR_TASK_NAME", train_dataset_cfg.mixture_or_task_name)
  errors.positive_int("BATCH_SIZE", train_dataset_cfg.batch_size)
  errors.feature_lengths("TASK_FEATURE_LENGTHS", train_dataset_cfg.task_feature_lengths)
  errors.positive_int("CHECKPOINT_PERIOD", checkpoint_period, minimum=0)
  # 0 would let orbax delete every checkpoint as it is written.
  errors.positive_int("KEEP_CHECKPOINTS", keep_checkpoints, optional=True)
  errors.positive_int("LOG_PERIOD", log_period, minimum=0)
  errors.positive_int("EVAL_PERIOD", eval_period, minimum=0)
  errors.positive_int("train.eval_examples", eval_examples, optional=True)
  errors.positive_int("NUM_MICROBATCHES", num_microbatches)
  errors.positive_int("train.show_predictions", show_predictions, minimum=0)
  errors.positive_int("HOST_SYNC_PERIOD", host_sync_period)
  errors.positive_int("MAX_CONSECUTIVE_SKIPS", max_consecutive_skips, minimum=0)
  errors.require_bool("RESTART_ON_DAMAGED_CHECKPOINTS", restart_on_damaged_checkpoints)
  seqio_source.load_tasks(train_dataset_cfg.module)  # MIXTURE_OR_TASK_MODULE: a bad one is a line here


def _initial_state(trainer: Trainer, checkpointer: checkpoints.Checkpointer, initial_checkpoint_path: str | None,
                   seed: int, restart_on_damaged: bool) -> checkpoints.Restored:
  """Resume from MODEL_DIR's newest intact checkpoint; else start from INITIAL_CHECKPOINT_PATH's parameters;
  else init."""
  restored = checkpointer.restore_latest(trainer.abstract_state(), restart_on_damaged)
  if restored is not None:
    return restored
  if initial_checkpoint_path:
    ref = checkpoints.locate(initial_checkpoint_path, "INITIAL_CHECKPOINT_PATH")
    params = checkpoints.restore_params(ref, trainer.abstract_state().params)
    print(f"flanx: initialised parameters from {initial_checkpoint_path}", flush=True)
    return checkpoints.Restored(trainer.state_from_params(params), None)
  return checkpoints.Restored(trainer.init_state(jax.random.key(seed)), None)


def _validation_loss(trainer: Trainer, params, config: DatasetConfig, num_batches: int) -> dict[str, float]:
  totals, count = {}, 0
  for batch in pipeline.evaluation_batches(config, trainer.mesh, trainer.model, num_batches):
    for k, v in jax.device_get(trainer.eval_step(params, batch)).items():
      totals[k] = totals.get(k, 0.0) + float(v)
    count += 1
  return {f"validation/{k}": v / count for k, v in totals.items() if k != "target_tokens"} if count else {}


def _print_predictions(trainer: Trainer, params, name: str, count: int, batch_size: int) -> None:
  predictions = predict.predict(decoding.Decoder.from_trainer(trainer), params, trainer.feature_lengths, name,
                                "validation", count, batch_size)
  if jax.process_index() != 0 or not predictions:
    return
  for p in predictions[:5]:
    print(f"  {p.inputs!r} -> {p.output!r} (target {p.target!r})")
  exact = sum(p.exact_match for p in predictions) / len(predictions)
  print(f"flanx: held-out exact match {exact:.1%} on {len(predictions)} validation examples of {name}", flush=True)


@gin.configurable
def train(
    *,
    model,
    train_dataset_cfg: DatasetConfig,
    model_dir: str,
    train_steps: int,
    optimizer: OptimizerConfig = OptimizerConfig(),
    partition: partitioning.PartitionConfig = partitioning.PartitionConfig(),
    num_microbatches: int = 1,
    checkpoint_period: int = 1000,
    keep_checkpoints: int | None = None,
    async_checkpointing: bool = True,
    log_period: int = 100,
    eval_period: int = 0,
    eval_dataset_cfg: DatasetConfig | None = None,
    eval_batches: int = 10,
    eval_suite: str | None = None,
    eval_examples: int | None = None,
    initial_checkpoint_path: str | None = None,
    random_seed: int = 0,
    peak_flops: float | None = None,
    show_predictions: int = 0,
    nonfinite_policy: str = "halt",
    max_consecutive_skips: int = 10,
    host_sync_period: int = 10,
    restart_on_damaged_checkpoints: bool = False,
) -> TrainResult:
  """Trains `model` on `train_dataset_cfg` until `train_steps`, resuming MODEL_DIR's latest checkpoint.

  peak_flops: the whole job's peak FLOP/s for MFU; None measures it with a matrix product, once per process.
  eval_suite: a held-out suite (e.g. 'flan_heldout') scored every eval_period steps into MODEL_DIR/eval/<step>/,
    on its first eval_examples examples per setting (None: all).
  show_predictions: after training, greedily decode this many validation examples and print the exact-match rate.
  nonfinite_policy: 'halt' or 'skip' a step whose loss or gradients are NaN/Inf (see flanx/nonfinite.py).
  max_consecutive_skips: under 'skip', halt when more than this many updates in a row were skipped.
  host_sync_period: every this many steps the host waits for the devices to read the non-finite flags and the
    processes agree whether to stop (SIGTERM). Between those points the host dispatches steps ahead of the
    devices. Log, checkpoint and evaluation steps are sync points too, so a NaN is never logged or saved as
    progress; a NaN is still named at its exact step.
  restart_on_damaged_checkpoints: when every checkpoint in MODEL_DIR is damaged, move them aside and train from
    step 0 instead of stopping with an error.

  SIGTERM or SIGINT (Ctrl-C) stops every process after the same step, writes a checkpoint and returns with
  `preempted` set; a second Ctrl-C exits the process at once (status 130).
  """
  # --- set-up: directories, mesh, data, state --------------------------------------------------------
  _check_settings(model_dir, train_steps, train_dataset_cfg, checkpoint_period, keep_checkpoints, log_period,
                  eval_period, eval_examples, num_microbatches, show_predictions, host_sync_period,
                  max_consecutive_skips, restart_on_damaged_checkpoints)
  if eval_period and eval_suite:  # an unknown suite is one line before MODEL_DIR is made, not at the first eval
    from flanx import heldout  # the benchmark tasks; the evaluator itself comes later

    heldout.suite_names(eval_suite)
  # The data directory (DATA_DIR, else FLANX_DATA_DIR): one that is set must be a directory, even when this
  # run's tasks read nothing from it (a typo'd path would otherwise only fail at the first evaluation).
  data_context = data_dir.resolve()
  data_context.optional()
  partitioner = partitioning.Partitioner(partition)  # a mesh that does not fit the devices: one line, here
  mesh = partitioner.mesh
  lengths = dict(train_dataset_cfg.task_feature_lengths)
  # A parameter the mesh splits unevenly: one line before MODEL_DIR is made, not jit's IndivisibleError at init.
  partitioner.check_even_split(model, lengths)
  # An ATTENTION_BLOCK_SIZE that tiles an attention's keys unevenly: one line here, not at the first step.
  blockwise_attention.check_lengths(getattr(model.config, "attention_block_size", 0), model.batch_shapes(1, lengths),
                                    lengths)
  model_dir = checkpoints.as_path(model_dir)
  _check_writable(model_dir)
  if jax.process_index() == 0:
    run_lock.acquire(model_dir)  # two trainings into one MODEL_DIR would overwrite each other's checkpoints
  # The data directory and the model's vocabulary, for every task this run reads.
  data_dir.install(data_context.with_vocabulary(model.vocabulary))
  # The input and its layout on the mesh, checked before any checkpoint is restored or any step compiled.
  inputs = pipeline.Input(train_dataset_cfg, mesh, model, num_microbatches)
  if eval_period and eval_dataset_cfg is not None:
    layout.from_mesh(mesh, eval_dataset_cfg.batch_size)
  if show_predictions and not seqio_source.has_split(train_dataset_cfg.mixture_or_task_name, "validation"):
    print(f"flanx: warning: train.show_predictions={show_predictions} skipped: "
          f"{train_dataset_cfg.mixture_or_task_name} has no validation split", file=sys.stderr, flush=True)
    show_predictions = 0
  monitor = nonfinite.NonfiniteMonitor(nonfinite_policy, max_consecutive_skips)
  trainer = Trainer(model, optimizer, partitioner, lengths, num_microbatches,
                    skip_nonfinite=nonfinite_policy == "skip")

  checkpointer = checkpoints.Checkpointer(model_dir, checkpoint_period, keep_checkpoints, async_checkpointing,
                                          settings=checkpoints.settings_of(optimizer))
  checkpointer.check_room_to_start(trainer.abstract_state())  # before anything (TensorBoard too) writes
  restored = _initial_state(trainer, checkpointer, initial_checkpoint_path, random_seed,
                            restart_on_damaged_checkpoints)
  state = restored.state
  first_step = int(jax.device_get(state.step))

  # Deterministic data: a resumed run continues from the position its checkpoint saved (one batch per step).
  inputs.start(restored.data_position, first_step)
  dropout_rng = jax.random.key(random_seed + 1)
  logger = summaries.MetricsLogger(model_dir, train_steps)
  logger.drop_after(first_step)  # rows a crash left beyond the restored checkpoint are about to be redone
  tokens_per_step = train_dataset_cfg.batch_size * (lengths["inputs"] + lengths["targets"])
  flops_per_step = model.flops_per_example(lengths) * train_dataset_cfg.batch_size
  if log_period and peak_flops is None:
    peak_flops = process_peak_flops(jax.devices())
  held_out = None
  if eval_period and eval_suite:
    held_out = heldout.training_evaluator(eval_suite, model_dir=model_dir, feature_lengths=lengths,
                                           num_examples=eval_examples)
    best = best_checkpoint.BestKeeper(model_dir, async_checkpointing)  # apart from KEEP_CHECKPOINTS' rotation
  if jax.process_index() == 0:
    print(f"flanx: {model.num_params(state.params):,} parameters on mesh {dict(mesh.shape)}; "
          f"steps {first_step}->{train_steps}; model_dir {model_dir}", flush=True)
    print(f"flanx: {inputs.layout.describe()[0]}", flush=True)
    if first_step >= train_steps:  # a rerun of a finished run: say so rather than look like it trained
      print(f"flanx: not training: the checkpoint in {model_dir} is already at step {first_step}, TRAIN_STEPS is "
            f"{train_steps}; raise TRAIN_STEPS to train on, or give another MODEL_DIR to start afresh", flush=True)
    else:  # the first batch and the step's compilation can take minutes with nothing else printed
      print(f"flanx: reading the first batch and compiling the train step for step {first_step + 1}; this can "
            f"take minutes on a large model", flush=True)

  # --- the loop ---------------------------------------------------------------------------------------
  metrics, window_start, window_steps = {}, time.perf_counter(), 0
  preempted, truncation_said = False, False
  with preemption.StopSignal() as stop, checkpointer:  # a failed run stops the background save first
    for step in range(first_step, train_steps):
      batch = next(inputs)
      state, step_metrics = trainer.train_step(state, batch, dropout_rng)
      window_steps += 1
      done = step + 1
      monitor.observe(done, step_metrics)
      log_now = log_period and (done % log_period == 0 or done == train_steps)
      evaluate_now = eval_period and done % eval_period == 0
      save_now = checkpointer.should_save(done)
      sync = done % host_sync_period == 0 or done == train_steps or log_now or evaluate_now or save_now
      if sync:
        try:
          monitor.flush()  # raises under 'halt' before a non-finite state is logged or saved
        except FlanxError:
          checkpointer.wait()  # the finite checkpoint the message points to is complete on disk
          raise
      if done == first_step + 1 and jax.process_index() == 0:
        gin_config.write_operative_config(model_dir)  # every configurable has been called by now
      if log_now:
        metrics = {k: float(v) for k, v in jax.device_get(step_metrics).items()}
        seconds = (time.perf_counter() - window_start) / window_steps
        metrics.update(seconds_per_step=seconds, tokens_per_second=tokens_per_step / seconds,
                       mfu=flops_per_step / seconds / peak_flops)
        if nonfinite_policy == "skip":
          metrics["skipped_updates"] = monitor.skipped
        cut = inputs.truncation.snapshot()  # examples this process read that TASK_FEATURE_LENGTHS cut
        metrics["truncated_examples"] = cut.cut_examples
        if not truncation_said and cut.cut_examples and jax.process_index() == 0:
          print(cut.line(), flush=True)  # once; the final count at the end
          truncation_said = True
        logger.write(done, metrics)
        logger.progress(done, metrics, first_step)
        window_start, window_steps = time.perf_counter(), 0
      if save_now:
        checkpointer.save(state, inputs.position())
      if evaluate_now:
        if eval_dataset_cfg is not None:
          logger.write(done, _validation_loss(trainer, state.params, eval_dataset_cfg, eval_batches))
        if held_out is not None:
          row = held_out(done, trainer, state.params)
          logger.write(done, {f"heldout/{k}": v for k, v in row.items() if isinstance(v, (int, float))})
          best.offer(done, row, state, inputs.position())
      if sync and stop.should_stop():
        preempted = done < train_steps
        break

  # --- wrap up ------------------------------------------------------------------------------------------
  # The loop ended at a sync point (the last step, or a stop), so no non-finite flag is left unread.
  # Still under the signal handler: a Ctrl-C after the one that stopped the run, while the last checkpoint is
  # written, leaves at once (exit 130) instead of unwinding through orbax's background threads.
  with dataclasses.replace(stop):  # the same signals, action and first signal received
    final_step = int(jax.device_get(state.step))
    checkpointer.save(state, inputs.position(), force=True)
    inputs.close()
    checkpointer.wait()
    steps = checkpointer.all_steps()
    checkpointer.close()
    if held_out is not None:
      best.close()
    logger.close()
    if records.report():
      print(records.report(), flush=True)  # BAD_RECORD_POLICY='skip' never drops records silently
    cut = inputs.truncation.snapshot()
    if cut.cut_examples and jax.process_index() == 0:
      print(cut.line(final=True), flush=True)  # the count said at the first logged step, now complete
    if first_step == train_steps and jax.process_index() == 0:
      gin_config.write_operative_config(model_dir)
    if show_predictions:
      _print_predictions(trainer, state.params, train_dataset_cfg.mixture_or_task_name, show_predictions,
                         train_dataset_cfg.batch_size)
    run_lock.release(model_dir)
  return TrainResult(step=final_step, metrics=metrics, model_dir=model_dir,
                     checkpoint_steps=steps, trainer=trainer, state=state, preempted=preempted)


# --- command line ------------------------------------------------------------------------------------

def configured_train() -> TrainResult:
  """Calls the gin-configured `train`, turning a missing or wrong gin argument into one line."""
  try:
    return train()
  except FlanxError as e:
    run_lock.release_all()
    # gin appends "In call to configurable ..." lines to exceptions passing through it; keep the user's line.
    raise FlanxError(errors.first_line(e)) from None
  except TypeError as e:
    run_lock.release_all()
    if "In call to configurable" in str(e) or "missing" in str(e).split("\n")[0]:
      raise gin_config.call_error(e) from e
    raise
  except RuntimeError as e:
    run_lock.release_all()
    required = gin_config.required_error(e)
    if required is None:
      raise
    raise required from e
  except BaseException:
    run_lock.release_all()
    raise


def main(argv: Sequence[str]) -> int:
  gin_files, bindings, rest = gin_config.split_args(argv)
  processes, rest = distributed.split_args(rest)
  gin_config.check_command_line(gin_files, rest, example="gin/runs/demo.gin")
  gin_config.parse(gin_files, bindings)
  distributed.initialize(processes)
  result = configured_train()
  if result.preempted:
    print(f"flanx: process {jax.process_index()} stopped by a signal at step {result.step}; checkpoint written, "
          f"rerun the same command to resume", flush=True)
    return 0
  if jax.process_index() == 0:
    m = result.metrics
    summary = (f"loss {m['loss']:.4f}, {m['tokens_per_second']:,.0f} tokens/s, MFU {m['mfu']:.1%}; " if m else "")
    print(f"flanx: trained to step {result.step}: {summary}checkpoints in "
          f"{result.model_dir.absolute()} (steps {result.checkpoint_steps})", flush=True)
  return 0

