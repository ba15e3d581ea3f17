"""Orbax checkpoints in T5X's layout: MODEL_DIR/checkpoint_<step>/{params,opt_state,data_position,settings}.

Orbax writes each checkpoint to a temporary directory and renames it when complete, so a crash mid-save
never leaves a half-written `checkpoint_<step>`. Parameters and optimizer state are separate items so a
new run can start from another run's parameters alone (INITIAL_CHECKPOINT_PATH). Just before the rename,
every file's CRC-32 goes into `flanx_checksums.json` (flanx/checksums.py).

Damage is caught at restore: a file that is missing or no longer matches its checksum, metadata that cannot
be read, arrays that do not restore or are not finite. Once an older checkpoint restores, each damaged newer
one is moved aside to `corrupt_checkpoint_<step>` (kept for inspection, invisible to orbax); when all are
damaged nothing moves and the run stops in one line. An intact checkpoint that does not fit (another model's
parameters, another optimizer's state) is not damage: it is a one-line CheckpointMismatch, naming the saved
optimizer `settings` that differ. `data_position` is the input pipeline's position (DataPosition,
flanx/input/position.py). A full or unwritable disk is one line (flanx/storage.py), checked for room before each save.

Parameters are restored by one function, `restore_params(ref, abstract_params)` (verify the files, check every
name and shape, then restore into the given shardings), for inference (`restore_for_inference`),
INITIAL_CHECKPOINT_PATH and the trainer's full-state resume (`Checkpointer.restore`, which adds the optimizer
state and position).
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

from flanx import checksums, decoding, errors, nonfinite, partitioning, storage
from flanx.errors import FlanxError
from flanx.trainer import TrainState

STEP_PREFIX = "checkpoint"
CORRUPT_PREFIX = "corrupt_"
DATA_POSITION = "data_position"
SETTINGS = "settings"  # the optimizer settings, as JSON, to name the one that changed
_TMP_SUFFIX = ".orbax-checkpoint-tmp"  # orbax writes checkpoint_<step> under this name, then renames it


@dataclasses.dataclass
class Restored:
  state: TrainState
  data_position: dict | None  # None for checkpoints written before positions were saved


def _first_line(e: BaseException, limit: int = 300) -> str:
  line = errors.first_line(e).split(" See full TensorStore details")[0]  # a repr of the whole store spec follows
  return line if len(line) <= limit else line[:limit] + "..."


def _agreed(value: bool) -> bool:
  """Process 0's answer on every process: they must take the same branch around a collective save or restore."""
  if jax.process_count() == 1:
    return value
  return bool(multihost_utils.broadcast_one_to_all(np.int32(value)))


def settings_of(config) -> dict:
  """A dataclass config as {'OptimizerConfig.field': value}: the flat JSON a checkpoint records to name what
  changed when its state no longer fits."""
  return {f"{type(config).__name__}.{f.name}": getattr(config, f.name) for f in dataclasses.fields(config)}


def state_bytes(abstract_state: TrainState) -> int:
  """The bytes of parameters and optimizer state: what a checkpoint holds, less a little metadata."""
  return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize
             for x in jax.tree.leaves((abstract_state.params, abstract_state.opt_state)))


class Checkpointer:
  """Saves every `period` steps (asynchronously), keeps the newest `keep`, restores the newest intact one.

  Each checkpoint records its files' checksums before orbax commits it (flanx/checksums.py); a restore verifies
  them. `settings` (the optimizer's, as a flat dict) are saved beside the state, so a checkpoint that does not fit
  a changed setting is reported by the setting's name. Use it as a context manager around the training loop: while
  open, the background writers' storage-error logs are silenced (the save reports the failure in one line).
  """

  def __init__(self, model_dir: str | pathlib.Path, period: int, keep: int | None = None, async_save: bool = True,
               settings: dict | None = None):
    self.directory = as_path(model_dir)
    self.period = period
    self.async_save = async_save
    self.settings = dict(settings or {})
    self._writing: int | None = None  # the step being written in the background
    self._checkpoint_bytes: int | None = None  # the newest checkpoint's size on disk, else an estimate
    # Always orbax's asynchronous checkpointer (only it runs the checksum hook); a synchronous save waits for it.
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, step_prefix=STEP_PREFIX, enable_async_checkpointing=True, create=True,
        save_interval_steps=1, async_options=ocp.AsyncOptions(post_finalization_callback=self._record_checksums))
    self._manager = ocp.CheckpointManager(self.directory, options=options)
    self._quiet = contextlib.ExitStack()

  def __enter__(self) -> "Checkpointer":
    self._quiet.enter_context(storage.quiet_background_failures())
    return self

  def __exit__(self, kind, value, tb) -> None:
    """A failed run stops the background writer before its error is printed. A storage failure anywhere in
    the loop (the metrics file, TensorBoard, a checkpoint) becomes one line naming what could not be written."""
    if value is None:
      return
    if isinstance(value, FlanxError) or not storage.is_storage_error(value):
      self._shut_down()
      return
    raise self._save_error(self._writing, value) from None

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def should_save(self, step: int) -> bool:
    return self.period > 0 and step % self.period == 0

  # --- saving --------------------------------------------------------------------------------------------

  def check_room_to_start(self, abstract_state: TrainState) -> None:
    """Refuses to start when MODEL_DIR's disk has clearly less room than one checkpoint: under half the bytes of
    its arrays (the estimate; a checkpoint's measured size replaces it once one is written or restored)."""
    estimate = state_bytes(abstract_state)
    self._checkpoint_bytes = estimate // 2
    free = self._short_of_room()
    if free is not None:
      raise FlanxError(f"MODEL_DIR={self.directory} has {storage.megabytes(free)} free, far less than one "
                       f"checkpoint needs (about {storage.megabytes(estimate)}); free some space or choose another "
                       f"MODEL_DIR")

  def save(self, state: TrainState, data_position: dict, force: bool = False) -> bool:
    step = int(jax.device_get(state.step))
    self.wait()  # the previous save, so that its failure names its own step and the free space is settled
    if step in self._manager.all_steps():
      return False
    if not nonfinite.all_finite(state.params):
      raise FlanxError(f"refusing to write {STEP_PREFIX}_{step}: its parameters hold NaN or Inf values")
    self._check_room(step)
    self._writing = step
    items = dict(params=ocp.args.StandardSave(state.params), opt_state=ocp.args.StandardSave(state.opt_state),
                 data_position=ocp.args.JsonSave(data_position))
    if self.settings:
      items[SETTINGS] = ocp.args.JsonSave(self.settings)
    try:
      saved = self._manager.save(step, args=ocp.args.Composite(**items), force=force)
    except Exception as e:
      if not storage.is_storage_error(e):
        raise
      raise self._save_error(step, e) from e
    if not self.async_save:
      self.wait()
    return saved

  def wait(self) -> None:
    """Blocks until the background save is committed; a storage failure is one line naming its step."""
    try:
      self._manager.wait_until_finished()
    except Exception as e:
      if not storage.is_storage_error(e):
        raise
      raise self._save_error(self._writing, e) from e
    self._writing = None

  def _short_of_room(self) -> int | None:
    """The free bytes of MODEL_DIR's disk when they are fewer than one checkpoint takes (the measured or
    estimated `_checkpoint_bytes`), else None. Process 0 looks; every process joins the broadcast of its answer
    (the others, which did not look, say 0)."""
    needed = self._checkpoint_bytes
    free = storage.free_bytes(self.directory) if jax.process_index() == 0 else None
    if _agreed(needed is None or free is None or free >= needed):
      return None
    return free or 0

  def _check_room(self, step: int) -> None:
    free = self._short_of_room()
    if free is not None:
      raise FlanxError(f"could not write {STEP_PREFIX}_{step} under {self.directory}: {storage.megabytes(free)} "
                       f"free, a checkpoint takes about {storage.megabytes(self._checkpoint_bytes)}; "
                       f"{self._intact_line(step)}; free some space and rerun to resume")

  def _record_checksums(self) -> None:
    """orbax's hook after every item is written, before the step directory is renamed into place."""
    if jax.process_index() != 0 or self._writing is None:
      return
    name = f"{STEP_PREFIX}_{self._writing}"
    temporary = sorted(self.directory.glob(f"{name}{_TMP_SUFFIX}*"))
    self._checkpoint_bytes = checksums.record(temporary[-1] if temporary else self.directory / name)

  def _intact_line(self, step: int) -> str:
    # From the directory: orbax's own list already lacks the ones it means to rotate out after this save.
    on_disk = (p.name.split("_")[-1] for p in self.directory.glob(f"{STEP_PREFIX}_*"))
    earlier = sorted(int(s) for s in on_disk if s.isdigit() and int(s) < step)
    return f"earlier checkpoints are intact (steps {earlier})" if earlier else "there is no earlier checkpoint"

  def _save_error(self, step: int | None, e: BaseException) -> FlanxError:
    """Full disk, read-only directory, lost permissions: one line naming what could not be written (the
    checkpoint, else the file), which checkpoints are still good, and whether the partial one was removed.
    orbax's writers keep failing in the background for a while: their logs stay silenced from here on."""
    intact = self._intact_line(step if step is not None else 1 << 62)
    self._shut_down(keep_quiet=True)
    removed = self._remove_partial(step)
    if step is not None:
      what = f"{STEP_PREFIX}_{step} under {self.directory}"
    else:
      what = getattr(e, "filename", None) or f"to MODEL_DIR={self.directory}"
    return FlanxError(f"could not write {what}: {storage.reason(e)}; {intact}{removed}")

  def _remove_partial(self, step: int | None) -> str:
    if step is None or jax.process_index() != 0:
      return ""
    partial = list(self.directory.glob(f"{STEP_PREFIX}_{step}{_TMP_SUFFIX}*"))
    try:
      for path in partial:
        path.rmtree()
    except OSError as e:
      return f"; could not remove the partial {partial[0].name} ({e.strerror or e})"
    return f"; the partial {STEP_PREFIX}_{step} was removed" if partial else ""

  def _shut_down(self, keep_quiet: bool = False) -> None:
    """Stops orbax's background threads, whatever state a failure left them in; then the silencing of their
    logs ends, unless a storage failure is still echoing through them."""
    with contextlib.suppress(Exception):
      self._manager.close()
    self._writing = None
    if not keep_quiet:
      self._quiet.close()

  def close(self) -> None:
    self._manager.close()
    self._quiet.close()

  # --- restoring -----------------------------------------------------------------------------------------

  def restore_latest(self, abstract_state: TrainState, restart_if_damaged: bool = False) -> Restored | None:
    """The newest checkpoint that is intact and restores. Damaged newer ones are moved aside (one warning
    each) once an older one has restored. An intact checkpoint that does not fit this run raises
    CheckpointMismatch with nothing moved. When every checkpoint is damaged: one line and nothing moved,
    unless `restart_if_damaged` (then they are moved aside and the run starts afresh: None)."""
    damaged: list[tuple[int, BaseException]] = []
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        restored = self.restore(step, abstract_state)
      except CheckpointMismatch:
        raise  # intact: moving it aside would silently restart the run
      except Exception as e:  # noqa: BLE001  tensorstore/orbax raise many types for truncated or corrupted files
        damaged.append((step, e))
        continue
      for bad, e in damaged:
        self._set_aside(bad, e, f"restored {STEP_PREFIX}_{step} instead")
      print(f"flanx: resuming from {self.directory}/{STEP_PREFIX}_{step}", flush=True)
      return restored
    if not damaged:
      return None
    if not restart_if_damaged:
      names = "; ".join(f"{STEP_PREFIX}_{s}: {_first_line(e, 200).split(' is damaged: ')[-1]}" for s, e in damaged)
      raise FlanxError(f"every checkpoint in MODEL_DIR={self.directory} is damaged, nothing was moved ({names}); "
                       f"set RESTART_ON_DAMAGED_CHECKPOINTS=True to move them aside and train from step 0")
    for bad, e in damaged:
      self._set_aside(bad, e, "starting afresh (RESTART_ON_DAMAGED_CHECKPOINTS=True)")
    return None

  def _set_aside(self, step: int, e: BaseException, then: str) -> None:
    name = f"{STEP_PREFIX}_{step}"
    print(f"flanx: warning: {self.directory}/{name} cannot be restored ({_first_line(e)}); moved it to "
          f"{CORRUPT_PREFIX}{name}; {then}", file=sys.stderr, flush=True)
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
    """The full training state of `step`: its files checked against their checksums, its parameters through
    `restore_params` (the one parameter restore, compatibility check included), then the optimizer state
    (checked against this run's optimizer first) and the data position beside them."""
    ref = self.ref(step)
    verify_files(ref, params=False)  # restore_params checks the params/ files
    params = restore_params(ref, abstract_state.params)
    if not nonfinite.all_finite(params):  # a checkpoint written without checksums, damaged inside an array
      raise CheckpointDamaged(f"{ref.name}: checkpoint {ref.step_dir} is damaged: its parameters hold NaN or Inf")
    opt_dir = ref.step_dir / "opt_state"
    saved = saved_metadata(ref, opt_dir)  # read once, for both checks
    check_optimizer_layout(ref, saved, abstract_state.opt_state)
    check_tree(ref, opt_dir, abstract_state.opt_state, "optimizer state", lambda: self._settings_hint(ref), saved)
    opt_state = _restore_tree(ref, opt_dir, abstract_state.opt_state)
    # Every process must restore the same items: process 0 looks, the others take its answer.
    position = None  # checkpoints written before positions were saved have none
    if _agreed((ref.step_dir / DATA_POSITION).exists()):
      position = _restore_tree(ref, ref.step_dir / DATA_POSITION, None, ocp.JsonCheckpointHandler())
    step_array = jax.device_put(jax.numpy.asarray(step, jax.numpy.int32), abstract_state.step.sharding)
    self._checkpoint_bytes = checksums.recorded_bytes(ref.step_dir) or self._checkpoint_bytes
    return Restored(TrainState(step=step_array, params=params, opt_state=opt_state), position)

  def _settings_hint(self, ref: "CheckpointRef") -> str:
    """' (OptimizerConfig.x is A in the checkpoint, B in this run)' for the saved settings that differ."""
    if not self.settings or not (ref.step_dir / SETTINGS).exists():
      return " (an optimizer setting changed since it was written)"
    saved = _restore_tree(ref, ref.step_dir / SETTINGS, None, ocp.JsonCheckpointHandler())
    changed = [f"{k} is {saved.get(k)!r} in the checkpoint but {v!r} in this run"
               for k, v in self.settings.items() if saved.get(k) != v]
    return f" ({'; '.join(changed)})" if changed else ""


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
  """The checkpoint is intact but does not fit: another model's parameters, or another optimizer's state."""


class CheckpointDamaged(FlanxError):
  """The checkpoint's files are missing, changed since they were committed, or unreadable."""


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
  """'decoder/layers_0/mlp/wi_0/kernel', '0/v_row/decoder/...': the same for orbax's metadata tree (dicts and
  lists) and the live pytree (optax's named tuples)."""
  return "/".join(next((str(getattr(k, a)) for a in ("key", "name", "idx") if hasattr(k, a)), str(k)) for k in path)


@contextlib.contextmanager
def _quiet_storage_logs():
  """orbax, tensorstore's asyncio tasks and absl log every failed read of a damaged checkpoint (thousands of
  lines); the one error line the caller raises says it all."""
  loggers = [logging.getLogger(n) for n in ("absl", "asyncio", "orbax", "jax")]
  levels = [logger.level for logger in loggers]
  for logger in loggers:
    logger.setLevel(logging.CRITICAL)
  try:
    yield
  finally:
    for logger, level in zip(loggers, levels):
      logger.setLevel(level)


def verify_files(ref: CheckpointRef, params: bool = True) -> None:
  """CheckpointDamaged naming the first file of the step directory (its `params/` files, or all the others)
  that is missing or changed since the checkpoint was committed; process 0 reads, the others take its answer."""
  problem = None
  if jax.process_index() == 0:
    problem = checksums.verify(ref.step_dir, lambda name: name.startswith("params/") == params)
  if not _agreed(problem is None):
    raise CheckpointDamaged(f"{ref.name}: checkpoint {ref.step_dir} is damaged: {problem or 'see process 0'}")


def saved_metadata(ref: CheckpointRef, directory: epath.Path):
  """The tree of array metadata (names, shapes) of one item of the checkpoint, `directory`. Unreadable or absent
  metadata is damage, not a mismatch."""
  try:
    with _quiet_storage_logs(), ocp.StandardCheckpointer() as checkpointer:
      saved = checkpointer.metadata(directory).item_metadata
  except Exception as e:  # a damaged _METADATA fails with any of several types
    raise CheckpointDamaged(f"{ref.name}: checkpoint {ref.step_dir} is damaged or not an orbax checkpoint: "
                            f"{_first_line(e)}") from e
  if saved is None:  # orbax answers None for a missing directory or _METADATA file
    raise CheckpointDamaged(f"{ref.name}: checkpoint {ref.step_dir} is damaged: {directory.name}/_METADATA is "
                            f"missing")
  return saved


def check_tree(ref: CheckpointRef, directory: epath.Path, abstract, what: str = "parameter", hint=lambda: "",
               saved=None) -> None:
  """One line naming the first array of `abstract` (parameters, or optimizer state) whose name or shape differs
  in the checkpoint's `directory`, before orbax sees it (its `saved_metadata`, read here unless given).
  `hint()` adds why they might differ (the optimizer settings that changed)."""
  if saved is None:
    saved = saved_metadata(ref, directory)
  saved = {_path_name(p): tuple(m.shape) for p, m in jax.tree_util.tree_flatten_with_path(saved)[0]}
  wanted = {_path_name(p): tuple(a.shape) for p, a in jax.tree_util.tree_flatten_with_path(abstract)[0]}
  if what == "parameter":
    subject = f"{ref.name}: checkpoint {ref.step_dir} does not match this model"
  else:
    subject = f"{ref.name}: checkpoint {ref.step_dir} does not fit this run's {what}"
  for name, shape in wanted.items():
    if name not in saved:
      raise CheckpointMismatch(f"{subject}: it has no {what} {name}{hint()}")
    if saved[name] != shape:
      if what == "parameter" and ("embedding" in name or "logits_dense" in name):
        def hint() -> str:
          return " (a different vocabulary size)"
      raise CheckpointMismatch(f"{subject}: {what} {name} has shape {saved[name]} in the checkpoint but {shape} "
                               f"in this run{hint()}")
  extra = sorted(set(saved) - set(wanted))
  if extra:
    raise CheckpointMismatch(f"{subject}: this run has no {what} {extra[0]}{hint()}")


def check_optimizer_layout(ref: CheckpointRef, saved, abstract_opt_state) -> None:
  """One line for a checkpoint written before flanx's T5X Adafactor (issue 22): its optimizer state is optax's
  chain of states ('0/count', '0/v_row/...'), not this Adafactor's ('count', 'v_row/...'). Its parameters are
  intact, so the line says how to start from them. `saved`: the opt_state item's `saved_metadata`. Same top-level
  names: check_tree names what differs."""
  def top_names(tree) -> set[str]:
    return {_path_name(p).split("/")[0] for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]}

  if top_names(saved) != top_names(abstract_opt_state):
    raise CheckpointMismatch(
        f"{ref.name}: checkpoint {ref.step_dir} holds the older optimizer-state layout (optax's Adafactor, before "
        f"flanx took T5X's); to continue from its parameters with a fresh optimizer state, train into a new "
        f"MODEL_DIR with INITIAL_CHECKPOINT_PATH={ref.step_dir}")


def check_compatible(ref: CheckpointRef, abstract_params) -> None:
  """One line naming the first parameter whose name or shape differs, before orbax sees the checkpoint."""
  check_tree(ref, ref.params_dir, abstract_params)


def _restore_tree(ref: CheckpointRef, directory: epath.Path, abstract, handler=None):
  """One item of a checkpoint, restored into `abstract`'s shardings; a damaged file is one CheckpointDamaged
  line, not orbax's error log."""
  try:
    with _quiet_storage_logs():
      if handler is not None:
        with ocp.Checkpointer(handler) as checkpointer:
          return checkpointer.restore(directory)
      with ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(directory, abstract)
  except Exception as e:  # tensorstore/orbax raise many types for truncated or corrupted files
    raise CheckpointDamaged(f"{ref.name}: checkpoint {ref.step_dir} is damaged: {_first_line(e)}") from e


def restore_params(ref: CheckpointRef, abstract_params):
  """The one parameter restore: checks the `params/` files against their checksums and the checkpoint's names
  and shapes against `abstract_params`, then reads them straight into its shardings (from a Partitioner:
  `sharded_abstract_params`, or a Trainer's `abstract_state().params`). Inference, INITIAL_CHECKPOINT_PATH and
  the trainer's resume all go through it."""
  verify_files(ref)
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
                          name: str = "CHECKPOINT_PATH", settings: str = partitioning.LAYOUT_SETTINGS,
                          names: partitioning.LayoutNames = partitioning.LayoutNames()) -> Loaded:
  """Locates the checkpoint, checks it fits `model`, and restores its parameters straight into the shardings
  the model has on the mesh. A damaged file is one FlanxError line, not orbax's error log.

  In a multi-process job every process calls it: the mesh spans all processes' devices, and each process reads
  only its own devices' shards, so a model too big for one host restores across all of them."""
  ref = locate(checkpoint_path, name)
  vocab_size = model.vocabulary.vocab_size
  if vocab_size > model.config.vocab_size:
    raise FlanxError(f"the vocabulary has {vocab_size} ids but the model embeds only {model.config.vocab_size} "
                     f"(NUM_EMBEDDINGS)")
  partitioner = partitioning.Partitioner(partition, names=names)  # `names`: what set `partition`'s fields
  # One trace of the parameters for the even-split check (`settings`: what chose this mesh) and the restore.
  abstract = partitioner.with_shardings(*partitioner.checked_abstract_params(model, feature_lengths, settings))
  params = restore_params(ref, abstract)
  decoder = decoding.Decoder(model, partitioner, jax.tree.map(lambda a: a.sharding, abstract))
  return Loaded(model, partitioner, params, ref, decoder)
