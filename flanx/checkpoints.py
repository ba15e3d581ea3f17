"""Orbax checkpoints in T5X's layout: MODEL_DIR/checkpoint_<step>/{params,opt_state,data_position}.

Orbax writes each checkpoint to a temporary directory and renames it when complete, so a crash mid-save
never leaves a half-written `checkpoint_<step>`. Parameters and optimizer state are separate items so a
new run can start from another run's parameters alone (INITIAL_CHECKPOINT_PATH).

Damage that happens after the rename (a truncated or corrupted file) is caught at restore: the checkpoint is
moved aside to `corrupt_checkpoint_<step>` (kept for inspection, invisible to orbax) and the next older one is
restored. An intact checkpoint of another model is not damage: it is a one-line CheckpointMismatch.
`data_position` is the input pipeline's position (flanx/input/position.py's DataPosition), a small JSON file.

Parameters are restored by one function, `restore_params(ref, abstract_params)` (check every name and shape,
then restore into the given shardings), for inference (`restore_for_inference`), INITIAL_CHECKPOINT_PATH
and the trainer's full-state resume (`Checkpointer.restore`, which adds the optimizer state and position).
"""

import contextlib
import dataclasses
import logging
import pathlib
import sys
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils

from flanx import decoding, errors, nonfinite, partitioning
from flanx.errors import FlanxError
from flanx.trainer import TrainState

STEP_PREFIX = "checkpoint"
CORRUPT_PREFIX = "corrupt_"
DATA_POSITION = "data_position"


@dataclasses.dataclass
class Restored:
  state: TrainState
  data_position: dict | None  # None for checkpoints written before positions were saved


def _is_storage_error(e: BaseException) -> bool:
  """An OSError anywhere in the chain (full disk, read-only or vanished directory), as opposed to, say, a
  failed barrier because a peer process died, which must not be reported as a disk problem."""
  seen = set()
  while e is not None and id(e) not in seen:
    if isinstance(e, OSError):
      return True
    seen.add(id(e))
    e = e.__cause__ or e.__context__
  return False


def _first_line(e: BaseException, limit: int = 300) -> str:
  line = errors.first_line(e).split(" See full TensorStore details")[0]  # a repr of the whole store spec follows
  return line if len(line) <= limit else line[:limit] + "..."


class Checkpointer:
  """Saves every `period` steps (asynchronously), keeps the newest `keep`, restores the latest."""

  def __init__(self, model_dir: str | pathlib.Path, period: int, keep: int | None = None, async_save: bool = True):
    self.directory = as_path(model_dir)
    self.period = period
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, step_prefix=STEP_PREFIX, enable_async_checkpointing=async_save, create=True,
        save_interval_steps=1)
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def should_save(self, step: int) -> bool:
    return self.period > 0 and step % self.period == 0

  def save(self, state: TrainState, data_position: dict, force: bool = False) -> bool:
    step = int(jax.device_get(state.step))
    if step in self._manager.all_steps():
      return False
    if not nonfinite.all_finite(state.params):
      raise FlanxError(f"refusing to write {STEP_PREFIX}_{step}: its parameters hold NaN or Inf values")
    self._last_step = step
    try:
      return self._manager.save(
          step, args=ocp.args.Composite(params=ocp.args.StandardSave(state.params),
                                        opt_state=ocp.args.StandardSave(state.opt_state),
                                        data_position=ocp.args.JsonSave(data_position)),
          force=force)
    except Exception as e:  # an earlier async save may surface its error here too
      raise self._save_error(step, e) if _is_storage_error(e) else e

  def _save_error(self, step: int, e: BaseException) -> FlanxError:
    """Full disk, read-only directory, lost permissions: one line, and which checkpoints are still good."""
    earlier = [s for s in self._manager.all_steps() if s < step]
    return FlanxError(f"could not write {STEP_PREFIX}_{step} under {self.directory}: {_first_line(e)}; "
                      f"earlier checkpoints are intact (steps {earlier})")

  def restore_latest(self, abstract_state: TrainState) -> Restored | None:
    """The newest checkpoint that restores; damaged newer ones are moved aside with a warning."""
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        restored = self.restore(step, abstract_state)
      except CheckpointMismatch:
        raise  # another model's checkpoint is intact: moving it aside would silently restart the run
      except Exception as e:  # tensorstore/orbax raise many types for truncated or corrupted files
        self._set_aside(step, e)
        continue
      print(f"flanx: resuming from {self.directory}/{STEP_PREFIX}_{step}", flush=True)
      return restored
    return None

  def _set_aside(self, step: int, e: BaseException) -> None:
    name = f"{STEP_PREFIX}_{step}"
    older = [s for s in self._manager.all_steps() if s < step]
    fallback = f"trying {STEP_PREFIX}_{older[-1]}" if older else "no older checkpoint: starting afresh"
    print(f"flanx: warning: {self.directory}/{name} cannot be restored ({_first_line(e)}); moved it to "
          f"{CORRUPT_PREFIX}{name}; {fallback}", file=sys.stderr, flush=True)
    # Every process has failed on the same files; one renames while the others wait, then all re-list.
    multihost_utils.sync_global_devices(f"flanx_corrupt_{step}_seen")
    if jax.process_index() == 0:
      target = self.directory / f"{CORRUPT_PREFIX}{name}"
      if target.exists():
        target.rmtree()
      (self.directory / name).rename(target)
    multihost_utils.sync_global_devices(f"flanx_corrupt_{step}_moved")
    self._manager.reload()

  def ref(self, step: int) -> "CheckpointRef":
    step_dir = self.directory / f"{STEP_PREFIX}_{step}"
    return CheckpointRef(step_dir / "params", step, self.directory, name="MODEL_DIR")

  def restore(self, step: int, abstract_state: TrainState) -> Restored:
    """The full training state of `step`: its parameters through `restore_params` (the one parameter restore,
    compatibility check included), then the optimizer state and the data position beside them."""
    ref = self.ref(step)
    params = restore_params(ref, abstract_state.params)
    opt_state = _restore_tree(ref, ref.step_dir / "opt_state", abstract_state.opt_state)
    # Every process must restore the same items: process 0 looks, the others take its answer.
    has_position = bool(multihost_utils.broadcast_one_to_all(np.int32((ref.step_dir / DATA_POSITION).exists())))
    position = None  # checkpoints written before positions were saved have none
    if has_position:
      position = _restore_tree(ref, ref.step_dir / DATA_POSITION, None, ocp.JsonCheckpointHandler())
    step_array = jax.device_put(jax.numpy.asarray(step, jax.numpy.int32), abstract_state.step.sharding)
    return Restored(TrainState(step=step_array, params=params, opt_state=opt_state), position)

  def wait(self) -> None:
    try:
      self._manager.wait_until_finished()
    except Exception as e:
      raise self._save_error(getattr(self, "_last_step", 0), e) if _is_storage_error(e) else e

  def close(self) -> None:
    self._manager.close()


def as_path(path: str | pathlib.Path) -> epath.Path:
  """Local paths made absolute (orbax requires it); gs:// and other remote paths as they are."""
  return epath.Path(path) if "://" in str(path) else epath.Path(pathlib.Path(path).absolute())


def _params_dir(path: str, name: str) -> epath.Path:
  """A step directory (run/checkpoint_1000) or a model directory (its newest checkpoint) -> its `params`
  directory; `name` is what the user called the path (INITIAL_CHECKPOINT_PATH, CHECKPOINT_PATH, --checkpoint)."""
  p = as_path(path)
  if not p.exists():
    raise FlanxError(f"{name}={path} does not exist")
  if (p / "params").is_dir():
    return p / "params"
  steps = sorted((d for d in p.glob(f"{STEP_PREFIX}_*") if (d / "params").is_dir() and d.name.split("_")[-1].isdigit()),
                 key=lambda d: int(d.name.split("_")[-1]))
  if steps:
    return steps[-1] / "params"
  raise FlanxError(f"{name}={path} is not a flanx checkpoint "
                   f"(no params/ inside, and no {STEP_PREFIX}_<step>/ directories)")


def load_params_numpy(path: str | pathlib.Path, name: str = "INITIAL_CHECKPOINT_PATH") -> dict:
  """A checkpoint's parameters (step or model directory) as a nested dict of host numpy arrays, whatever
  mesh wrote them (for conversion and tests: no model, so no target shardings)."""
  params_dir = locate(str(path), name).params_dir
  checkpointer = ocp.PyTreeCheckpointer()
  metadata = checkpointer.metadata(params_dir)
  tree = getattr(metadata, "item_metadata", None) or metadata
  tree = getattr(tree, "tree", tree)
  restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
  return checkpointer.restore(params_dir, restore_args=restore_args)


# --- restoring parameters: one path for inference, INITIAL_CHECKPOINT_PATH and the trainer's resume -----------


class CheckpointMismatch(FlanxError):
  """The checkpoint is intact but holds another model's parameters (names or shapes differ)."""


@dataclasses.dataclass(frozen=True)
class CheckpointRef:
  params_dir: epath.Path
  step: int
  model_dir: epath.Path  # where training wrote config.gin, and where eval/<step>/ goes
  name: str = "CHECKPOINT_PATH"  # what the user called the path, for error lines

  @property
  def step_dir(self) -> epath.Path:
    return self.params_dir.parent


def locate(path: str, name: str = "CHECKPOINT_PATH") -> CheckpointRef:
  """A step directory (run/checkpoint_600) or a model directory (its newest checkpoint); `name` is what the
  user called the path, for the error line."""
  params_dir = _params_dir(path, name)
  suffix = params_dir.parent.name.rpartition("_")[2]
  return CheckpointRef(params_dir.absolute(), int(suffix) if suffix.isdigit() else 0,
                       params_dir.parent.parent.absolute(), name)


def _path_name(path) -> str:
  return "/".join(str(getattr(k, "key", k)) for k in path)


@contextlib.contextmanager
def _quiet_storage_logs():
  """orbax, tensorstore's asyncio tasks and absl log every failed read of a damaged checkpoint (thousands of
  lines); the one error line the caller raises says it all."""
  loggers = [logging.getLogger(n) for n in ("absl", "asyncio", "orbax", "jax")]
  levels = [l.level for l in loggers]
  for l in loggers:
    l.setLevel(logging.CRITICAL)
  try:
    yield
  finally:
    for l, level in zip(loggers, levels):
      l.setLevel(level)


def check_compatible(ref: CheckpointRef, abstract_params) -> None:
  """One line naming the first parameter whose name or shape differs, before orbax sees the checkpoint."""
  try:
    with _quiet_storage_logs(), ocp.StandardCheckpointer() as checkpointer:
      saved = checkpointer.metadata(ref.params_dir).item_metadata
  except Exception as e:  # noqa: BLE001  a damaged _METADATA fails with any of several types
    raise FlanxError(f"{ref.name}: checkpoint {ref.step_dir} is damaged or not an orbax checkpoint: "
                     f"{_first_line(e)}") from e
  saved = {_path_name(p): tuple(m.shape) for p, m in jax.tree_util.tree_flatten_with_path(saved)[0]}
  wanted = {_path_name(p): tuple(a.shape) for p, a in jax.tree_util.tree_flatten_with_path(abstract_params)[0]}
  subject = f"{ref.name}: checkpoint {ref.step_dir} does not match this model"
  for name, shape in wanted.items():
    if name not in saved:
      raise CheckpointMismatch(f"{subject}: it has no parameter {name}")
    if saved[name] != shape:
      hint = " (a different vocabulary size)" if "embedding" in name or "logits_dense" in name else ""
      raise CheckpointMismatch(f"{subject}: parameter {name} has shape {saved[name]} in the checkpoint but {shape} "
                               f"in the model{hint}")
  extra = sorted(set(saved) - set(wanted))
  if extra:
    raise CheckpointMismatch(f"{subject}: the model has no parameter {extra[0]}")


def _restore_tree(ref: CheckpointRef, directory: epath.Path, abstract, handler=None):
  """One item of a checkpoint, restored into `abstract`'s shardings; a damaged file is one FlanxError line,
  not orbax's error log."""
  try:
    with _quiet_storage_logs():
      if handler is not None:
        with ocp.Checkpointer(handler) as checkpointer:
          return checkpointer.restore(directory)
      with ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(directory, abstract)
  except Exception as e:  # noqa: BLE001  tensorstore/orbax raise many types for truncated or corrupted files
    raise FlanxError(f"{ref.name}: checkpoint {ref.step_dir} is damaged: {_first_line(e)}") from e


def restore_params(ref: CheckpointRef, abstract_params):
  """The one parameter restore: checks the checkpoint holds exactly `abstract_params`' names and shapes, then
  reads them straight into its shardings (from a Partitioner: `sharded_abstract_params`, or a Trainer's
  `abstract_state().params`). Inference, INITIAL_CHECKPOINT_PATH and the trainer's resume all go through it."""
  check_compatible(ref, abstract_params)
  return _restore_tree(ref, ref.params_dir, abstract_params)


@dataclasses.dataclass
class Loaded:
  """A restored model on its partitioner's mesh, ready to decode."""
  model: Any
  partitioner: partitioning.Partitioner
  params: Any
  ref: CheckpointRef
  decoder: decoding.Decoder


def restore_for_inference(model, checkpoint_path: str, feature_lengths: dict[str, int],
                          partition: partitioning.PartitionConfig = partitioning.PartitionConfig(),
                          name: str = "CHECKPOINT_PATH") -> Loaded:
  """Locates the checkpoint, checks it fits `model`, and restores its parameters straight into the shardings
  the model has on the mesh. A damaged file is one FlanxError line, not orbax's error log.

  In a multi-process job every process calls it: the mesh spans all processes' devices, and each process reads
  only its own devices' shards, so a model too big for one host restores across all of them."""
  ref = locate(checkpoint_path, name)
  vocab_size = model.vocabulary.vocab_size
  if vocab_size > model.config.vocab_size:
    raise FlanxError(f"the vocabulary has {vocab_size} ids but the model embeds only {model.config.vocab_size} "
                     f"(NUM_EMBEDDINGS)")
  partitioner = partitioning.Partitioner(partition)
  abstract = partitioner.sharded_abstract_params(model, feature_lengths)
  params = restore_params(ref, abstract)
  decoder = decoding.Decoder(model, partitioner, jax.tree.map(lambda a: a.sharding, abstract))
  return Loaded(model, partitioner, params, ref, decoder)
