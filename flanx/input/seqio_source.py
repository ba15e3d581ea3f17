"""The seqio side of the input: registering and checking the mixture, and one data shard's batches of it."""

import importlib
import inspect

import seqio
import tensorflow as tf

from flanx.errors import FlanxError, closest, require_str
from flanx.input import truncation
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


def check_task_name(name: str, module: str | None = DEFAULT_TASK_MODULE,
                    given_as: str = "MIXTURE_OR_TASK_NAME") -> None:
  """Raises a FlanxError naming the closest registered tasks or mixtures when `name` is unknown; `given_as` is
  where the user gave it (a macro, or a command's argument)."""
  load_tasks(module)
  known = set(seqio.TaskRegistry.names()) | set(seqio.MixtureRegistry.names())
  if name not in known:
    raise FlanxError(f"unknown task or mixture {name!r} ({given_as}){closest(name, known)}")


def check_vocabulary(name: str, num_embeddings: int) -> None:
  """The task's token ids must fit the model's embedding table."""
  for feature_name, feature in seqio.get_mixture_or_task(name).output_features.items():
    if feature.vocabulary.vocab_size > num_embeddings:
      raise FlanxError(f"{name!r} feature {feature_name!r} has a vocabulary of {feature.vocabulary.vocab_size} ids, "
                       f"more than the model's NUM_EMBEDDINGS={num_embeddings}")


def has_split(name: str, split: str) -> bool:
  return split in seqio.get_mixture_or_task(name).splits


def trims_only_at_the_end(name: str) -> bool:
  """Whether the sequence lengths reach the tasks only through seqio's append_eos_after_trim (the flanx tasks):
  then the examples can be read untrimmed and trimmed, identically, where truncation is counted. A preprocessor
  that shapes examples to the lengths (span corruption, fitting few-shot exemplars) must get them itself."""
  provider = seqio.get_mixture_or_task(name)
  tasks = provider.tasks if isinstance(provider, seqio.Mixture) else [provider]
  return all(fn is seqio.preprocessors.append_eos_after_trim or "sequence_length" not in _parameters(fn)
             for task in tasks for fn in task.preprocessors)


def _parameters(fn) -> set[str]:
  try:
    return set(inspect.signature(fn).parameters)
  except (TypeError, ValueError):  # a callable without a signature: assume it may take the lengths
    return {"sequence_length"}


def shard_dataset(config: DatasetConfig, feature_converter: seqio.FeatureConverter, shard: int, num_shards: int,
                  rows: int, counter: truncation.Counter | None = None) -> tf.data.Dataset:
  """Data shard `shard` of `num_shards`: its slice of the stream (same seed on every host), in batches of `rows`.

  Batches are whole (a global array needs every shard's rows): a finite stream's last, smaller batch is dropped.
  With a `counter` (and tasks that take the lengths only to trim, `trims_only_at_the_end`), the examples are read
  untrimmed and trimmed by the counter's map, so it sees how many TASK_FEATURE_LENGTHS cut; the rows are
  seqio.get_dataset's.
  """
  lengths = dict(config.task_feature_lengths)
  shard_info = seqio.ShardInfo(index=shard, num_shards=num_shards)
  if counter is None or not trims_only_at_the_end(config.mixture_or_task_name):
    ds = seqio.get_dataset(config.mixture_or_task_name, task_feature_lengths=lengths,
                           feature_converter=feature_converter, dataset_split=config.split,
                           use_cached=config.use_cached, shuffle=config.shuffle, num_epochs=config.num_epochs,
                           shard_info=shard_info, seed=config.seed, verbose=False)
  else:  # seqio.get_dataset's steps, with the trimming moved past the count
    provider = seqio.get_mixture_or_task(config.mixture_or_task_name)
    ds = provider.get_dataset(None, split=config.split, use_cached=config.use_cached, shuffle=config.shuffle,
                              seed=config.seed, shard_info=shard_info, num_epochs=config.num_epochs)
    ds = feature_converter(ds.map(counter.tf_trim(provider.output_features)), task_feature_lengths=lengths)
  return ds.batch(rows, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
