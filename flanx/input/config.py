"""What a run reads: T5X's DatasetConfig, bound by gin (train/DatasetConfig in gin/runs/finetune.gin)."""

import dataclasses
from collections.abc import Mapping

import gin

DEFAULT_TASK_MODULE = "tasks"  # flanx's tasks and mixtures; MIXTURE_OR_TASK_MODULE in gin/runs/finetune.gin


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DatasetConfig:
  """T5X's DatasetConfig: which mixture, at which lengths, in global batches of which size.

  module: the Python module that registers the mixture or task (T5X's MIXTURE_OR_TASK_MODULE), imported before
    the name is looked up; None when the caller registered it already.
  """

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
  module: str | None = DEFAULT_TASK_MODULE
