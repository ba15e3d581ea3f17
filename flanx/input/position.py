"""Where the training input stands (`DataPosition`), saved with every checkpoint as `data_position`."""

import dataclasses

import jax

from flanx.errors import FlanxError
from flanx.input.config import DatasetConfig


@dataclasses.dataclass(frozen=True)
class DataPosition:
  """The input's position: `batches` global batches consumed, of the pipeline `pipeline` describes.

  Every data shard's stream is deterministic given the pipeline (mixture, seed, batch size, lengths, number of
  data shards), so the count is enough to continue through seqio: each shard skips that many of its batches.
  Read from a data cache, `readers` holds each data shard's reader position instead (keyed by the shard's
  index), restored without replay. Neither depends on the number of hosts: a run resumes on any host count
  whose mesh has the same number of data shards.
  """
  batches: int
  pipeline: dict
  readers: dict[str, dict] | None = None

  @classmethod
  def start(cls, config: DatasetConfig, num_shards: int, cache_fingerprint: str | None = None) -> "DataPosition":
    pipeline = dict(mixture_or_task_name=config.mixture_or_task_name, split=config.split, shuffle=config.shuffle,
                    seed=config.seed, batch_size=config.batch_size, pack=config.pack,
                    task_feature_lengths=dict(sorted(config.task_feature_lengths.items())), num_data_shards=num_shards)
    if config.cache_dir:
      pipeline.update(cache_dir=str(config.cache_dir), cache=cache_fingerprint)
    return cls(0, pipeline)

  def advanced(self, batches: int, readers: dict[str, dict] | None = None) -> "DataPosition":
    """`batches` further on, with the data-cache readers' positions then (None reading through seqio)."""
    return dataclasses.replace(self, batches=self.batches + batches, readers=readers)

  def to_json(self) -> dict:
    saved = {"batches": self.batches, "pipeline": self.pipeline}
    return saved if self.readers is None else {**saved, "readers": self.readers}

  def resume(self, saved: dict | None, step: int) -> "DataPosition":
    """This run's pipeline at the saved position (checkpoints from before positions were saved: at `step`).

    A pipeline that changed since the checkpoint cannot continue the old batch sequence; say so, then seek
    to the same count of batches in the new one. Cache-reader positions continue only the cache and data
    shards they were saved for: anything else is one line.
    """
    if saved is None:
      return dataclasses.replace(self, batches=step)
    old = saved["pipeline"]
    # Keys this flanx adds that an older checkpoint lacks are not changes (its process_count was its shards).
    changed = {k: (old.get(k), v) for k, v in self.pipeline.items() if k in old and old[k] != v}
    readers = _readers_by_shard(saved.get("readers"))
    if readers is not None and self.pipeline.get("cache_dir"):
      self._check_readers(readers, old, changed)
    if changed and jax.process_index() == 0:
      what = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items())
      print(f"flanx: warning: the input pipeline changed since the checkpoint ({what}); the run continues "
            f"with batch {saved['batches'] + 1} of the new pipeline, not the old sequence", flush=True)
    return dataclasses.replace(self, batches=int(saved["batches"]), readers=readers)

  def _check_readers(self, readers: dict[str, dict], old: dict, changed: dict) -> None:
    cache_dir = self.pipeline["cache_dir"]
    if "cache" in changed:
      raise FlanxError(f"data cache {cache_dir} is not the one the checkpoint was reading ({changed['cache'][0]}; "
                       f"now {changed['cache'][1]}): its saved reader positions would point into other examples. "
                       f"Restore the original cache (rewrite it with the same mixture, seed and --examples), or "
                       f"train from a fresh MODEL_DIR")
    num_shards = self.pipeline["num_data_shards"]
    if len(readers) != num_shards:
      raise FlanxError(f"the checkpoint's data position was saved for {len(readers)} data shards, this run's mesh "
                       f"has {num_shards} (replica x data): a cache reader's position cannot be re-split "
                       f"(DATA_CACHE_DIR); resume with the same replica x data, on any number of hosts")


def _readers_by_shard(readers) -> dict[str, dict] | None:
  """Saved reader positions keyed by data shard; older checkpoints saved a list, one per process, which was
  one per data shard (each process read its own slice)."""
  if readers is None or isinstance(readers, dict):
    return readers
  return {str(i): state for i, state in enumerate(readers)}
