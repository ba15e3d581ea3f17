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


def to_global(local_batch: Mapping[str, np.ndarray], mesh: jax.sharding.Mesh) -> dict[str, jax.Array]:
  """Per-process numpy rows -> global jax.Arrays, batch dimension split over replica x data."""
  sharding = partitioning.batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local_batch.items()}


def global_batches(ds: tf.data.Dataset, mesh: jax.sharding.Mesh) -> Iterator[dict[str, jax.Array]]:
  for local in ds.as_numpy_iterator():
    yield to_global(local, mesh)
