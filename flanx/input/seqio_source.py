"""The seqio side of the input: registering and checking the mixture, and one data shard's batches of it."""

import importlib

import seqio
import tensorflow as tf

from flanx.errors import FlanxError, closest, require_str
from flanx.input.config import DEFAULT_TASK_MODULE, DatasetConfig


def load_tasks(module: str | None = DEFAULT_TASK_MODULE) -> None:
  """Imports the module that registers the mixtures and tasks a run names (DatasetConfig.module)."""
  if module is None:
    return
  require_str("MIXTURE_OR_TASK_MODULE", module)
  try:
    importlib.import_module(module)
  except ModuleNotFoundError as e:
    if e.name is None or not module.startswith(e.name):
      raise
    raise FlanxError(f"MIXTURE_OR_TASK_MODULE={module!r}: no such Python module ({e.name!r} not found)") from None


def check_task_name(name: str, module: str | None = DEFAULT_TASK_MODULE) -> None:
  """Raises a FlanxError naming the closest registered tasks or mixtures when `name` is unknown."""
  load_tasks(module)
  known = set(seqio.TaskRegistry.names()) | set(seqio.MixtureRegistry.names())
  if name not in known:
    raise FlanxError(f"unknown task or mixture {name!r} (MIXTURE_OR_TASK_NAME){closest(name, known)}")


def check_vocabulary(name: str, num_embeddings: int) -> None:
  """The task's token ids must fit the model's embedding table."""
  for feature_name, feature in seqio.get_mixture_or_task(name).output_features.items():
    if feature.vocabulary.vocab_size > num_embeddings:
      raise FlanxError(f"{name!r} feature {feature_name!r} has a vocabulary of {feature.vocabulary.vocab_size} ids, "
                       f"more than the model's NUM_EMBEDDINGS={num_embeddings}")


def has_split(name: str, split: str) -> bool:
  return split in seqio.get_mixture_or_task(name).splits


def shard_dataset(config: DatasetConfig, feature_converter: seqio.FeatureConverter, shard: int, num_shards: int,
                  rows: int) -> tf.data.Dataset:
  """Data shard `shard` of `num_shards`: its slice of the stream (same seed on every host), in batches of `rows`.

  Batches are whole (a global array needs every shard's rows): a finite stream's last, smaller batch is dropped.
  """
  ds = seqio.get_dataset(
      config.mixture_or_task_name,
      task_feature_lengths=dict(config.task_feature_lengths),
      feature_converter=feature_converter,
      dataset_split=config.split,
      use_cached=config.use_cached,
      shuffle=config.shuffle,
      num_epochs=config.num_epochs,
      shard_info=seqio.ShardInfo(index=shard, num_shards=num_shards),
      seed=config.seed,
      verbose=False,
  )
  return ds.batch(rows, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
