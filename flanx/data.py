"""From a SeqIO task or mixture to global, sharded batches on the mesh.

Each process reads its own shard of the data (seqio.ShardInfo) and batches BATCH_SIZE / process_count
examples; `jax.make_array_from_process_local_data` then stitches the per-process rows into one global
array split over the mesh's batch axes.
"""

import dataclasses
from collections.abc import Iterator, Mapping

import gin
import jax
import numpy as np
import seqio
import tensorflow as tf

from flanx import partitioning
from flanx.errors import FlanxError, closest


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DatasetConfig:
  """T5X's DatasetConfig: which mixture, at which lengths, in global batches of which size."""

  mixture_or_task_name: str
  task_feature_lengths: Mapping[str, int]
  batch_size: int
  split: str = "train"
  shuffle: bool = True
  seed: int | None = 0
  use_cached: bool = False
  pack: bool = True
  num_epochs: int | None = None  # None repeats forever (training)
  cache_dir: str | None = None  # DATA_CACHE_DIR: read `flanx data cache` shards with Grain instead of seqio


@dataclasses.dataclass(frozen=True)
class DataPosition:
  """Where the training input pipeline stands; saved with every checkpoint.

  The pipeline is deterministic given `pipeline` (mixture, seed, batch size, lengths, process count), so
  `batches` global batches consumed is enough to continue with exactly the next one: the restart seeks there.
  Read from a data cache, `readers` holds each process's reader position instead, restored without replay.
  """
  batches: int
  pipeline: dict
  readers: list[dict] | None = None

  @classmethod
  def start(cls, config: "DatasetConfig") -> "DataPosition":
    pipeline = dict(mixture_or_task_name=config.mixture_or_task_name, split=config.split, shuffle=config.shuffle,
                    seed=config.seed, batch_size=config.batch_size, pack=config.pack,
                    task_feature_lengths=dict(sorted(config.task_feature_lengths.items())),
                    process_count=jax.process_count())
    if config.cache_dir:
      pipeline["cache_dir"] = str(config.cache_dir)
    return cls(0, pipeline)

  def advanced(self, batches: int, reader=None) -> "DataPosition":
    """`batches` further on; with a cache reader, every process's reader position (a collective call)."""
    readers = None if reader is None else reader_positions(reader)
    return dataclasses.replace(self, batches=self.batches + batches, readers=readers)

  def to_json(self) -> dict:
    saved = {"batches": self.batches, "pipeline": self.pipeline}
    return saved if self.readers is None else {**saved, "readers": self.readers}

  def resume(self, saved: dict | None, step: int) -> "DataPosition":
    """This run's pipeline at the saved position (checkpoints from before positions were saved: at `step`).

    A pipeline that changed since the checkpoint cannot continue the old batch sequence; say so, then seek
    to the same count of batches in the new one.
    """
    if saved is None:
      return dataclasses.replace(self, batches=step)
    changed = {k: (saved["pipeline"].get(k), v) for k, v in self.pipeline.items() if saved["pipeline"].get(k) != v}
    if changed and jax.process_index() == 0:
      what = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items())
      print(f"flanx: warning: the input pipeline changed since the checkpoint ({what}); the run continues "
            f"with batch {saved['batches'] + 1} of the new pipeline, not the old sequence", flush=True)
    return dataclasses.replace(self, batches=int(saved["batches"]), readers=saved.get("readers"))


def check_task_name(name: str) -> None:
  """Raises a FlanxError naming the closest registered tasks or mixtures when `name` is unknown."""
  import tasks  # noqa: F401  registers flanx's tasks and mixtures on first use

  known = set(seqio.TaskRegistry.names()) | set(seqio.MixtureRegistry.names())
  if name not in known:
    raise FlanxError(f"unknown task or mixture {name!r} (MIXTURE_OR_TASK_NAME){closest(name, known)}")


def check_vocabulary(name: str, num_embeddings: int) -> None:
  """The task's token ids must fit the model's embedding table."""
  for feature_name, feature in seqio.get_mixture_or_task(name).output_features.items():
    if feature.vocabulary.vocab_size > num_embeddings:
      raise FlanxError(f"{name!r} feature {feature_name!r} has a vocabulary of {feature.vocabulary.vocab_size} ids, "
                       f"more than the model's NUM_EMBEDDINGS={num_embeddings}")


def process_dataset(config: DatasetConfig, feature_converter: seqio.FeatureConverter) -> tf.data.Dataset:
  """This process's shard, batched to its share of the global batch, as numpy-ready tf.data."""
  check_task_name(config.mixture_or_task_name)
  num_processes = jax.process_count()
  if config.batch_size % num_processes:
    raise FlanxError(f"BATCH_SIZE={config.batch_size} is not divisible by the {num_processes} processes")
  ds = seqio.get_dataset(
      config.mixture_or_task_name,
      task_feature_lengths=dict(config.task_feature_lengths),
      feature_converter=feature_converter,
      dataset_split=config.split,
      use_cached=config.use_cached,
      shuffle=config.shuffle,
      num_epochs=config.num_epochs,
      shard_info=seqio.ShardInfo(index=jax.process_index(), num_shards=num_processes),
      seed=config.seed,
      verbose=False,
  )
  drop_remainder = config.num_epochs is None  # evaluation keeps its last, smaller batch
  return ds.batch(config.batch_size // num_processes, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def reader_positions(reader) -> list[dict]:
  """Every process's cache-reader position, gathered (all processes call this at the same step)."""
  state = reader.state()
  if jax.process_count() == 1:
    return [state]
  from jax.experimental import multihost_utils  # noqa: PLC0415
  keys = sorted(state)
  gathered = multihost_utils.process_allgather(np.array([int(state[k]) for k in keys], dtype=np.int64))
  return [dict(zip(keys, map(int, row))) for row in np.asarray(gathered).reshape(jax.process_count(), -1)]


def cached_batches(config: DatasetConfig, feature_converter: seqio.FeatureConverter, position: DataPosition):
  """This process's batches from DATA_CACHE_DIR (flanx/cache_reader.py), at `position` without replay."""
  from flanx import cache_reader  # noqa: PLC0415
  num_processes = jax.process_count()
  if config.batch_size % num_processes:
    raise FlanxError(f"BATCH_SIZE={config.batch_size} is not divisible by the {num_processes} processes")
  rows = cache_reader.converter_fields(feature_converter)
  from flanx import vocab  # noqa: PLC0415
  cache_reader.check_vocabulary(str(config.cache_dir), vocab.active())
  spec = cache_reader.CacheSpec(str(config.cache_dir), dict(config.task_feature_lengths), config.pack,
                                jax.process_index(), num_processes, **rows)
  reader = cache_reader.CachedBatches(spec, config.batch_size // num_processes)
  if position.readers is not None:
    if len(position.readers) != num_processes:
      raise FlanxError(f"the checkpoint's data position was saved by {len(position.readers)} processes, this run "
                       f"has {num_processes}: a cache reader's position cannot be re-split (DATA_CACHE_DIR)")
    reader.restore(position.readers[jax.process_index()])
  elif position.batches:
    reader.restore(cache_reader.unpacked_position(spec, position.batches, config.batch_size // num_processes))
  return reader


def to_global(local_batch: Mapping[str, np.ndarray], mesh: jax.sharding.Mesh) -> dict[str, jax.Array]:
  """Per-process numpy rows -> global jax.Arrays, batch dimension split over replica x data."""
  sharding = partitioning.batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local_batch.items()}


def global_batches(ds: tf.data.Dataset, mesh: jax.sharding.Mesh) -> Iterator[dict[str, jax.Array]]:
  for local in ds.as_numpy_iterator():
    yield to_global(local, mesh)
