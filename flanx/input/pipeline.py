"""The one input object of a run: a DatasetConfig and the mesh in, global batches and their position out.

    inputs = Input(config, partitioner.mesh, model)   # every check, before any restore or compile; reads nothing
    inputs.start(restored.data_position, step)        # the sources, at the saved position
    batch = next(inputs)                              # {feature: jax.Array of BATCH_SIZE rows on the mesh}
    checkpointer.save(state, inputs.position())       # a collective with DATA_CACHE_DIR

Each process reads the data shards its devices hold (flanx/input/layout.py), each through its own source: a
seqio slice (flanx/input/seqio_source.py) or a data-cache reader (flanx/input/cache_reader.py). The global
array is put together from those rows: every device gets the rows of its shard.
"""

from collections.abc import Iterator

import jax
import numpy as np
from jax.experimental import multihost_utils

from flanx import partitioning
from flanx.errors import FlanxError
from flanx.input import cache_reader, data_cache, layout, seqio_source, truncation
from flanx.input.config import DatasetConfig
from flanx.input.position import DataPosition

_READER_STATE = ("start", "row")  # cache_reader.CachedBatches.state()'s keys


class Input:
  """Global batches of `config` on `mesh`, for `model`'s feature converter, from seqio or DATA_CACHE_DIR."""

  def __init__(self, config: DatasetConfig, mesh: jax.sharding.Mesh, model, num_microbatches: int = 1):
    self.config = config
    self.mesh = mesh
    self.layout = layout.from_mesh(mesh, config.batch_size, num_microbatches)
    self.shards = self.layout.shards_of(jax.process_index())
    self.converter = model.feature_converter(config.pack)
    seqio_source.check_task_name(config.mixture_or_task_name, config.module)
    seqio_source.check_vocabulary(config.mixture_or_task_name, model.config.vocab_size)
    fingerprint = None
    if config.cache_dir:
      self._cache_fields = cache_reader.converter_fields(self.converter)
      manifest = data_cache.Manifest.read(config.cache_dir)
      cache_reader.check_mixture(manifest, str(config.cache_dir), config.mixture_or_task_name, config.split)
      manifest.check_shards(config.cache_dir)
      if manifest.examples < self.layout.num_shards:
        raise FlanxError(f"data cache {config.cache_dir} holds {manifest.examples} examples, fewer than the "
                         f"{self.layout.num_shards} data shards reading it (DATA_CACHE_DIR)")
      cache_reader.check_vocabulary(str(config.cache_dir), model.vocabulary)
      fingerprint = manifest.fingerprint()
    self._position = DataPosition.start(config, self.layout.num_shards, fingerprint)
    self._sources: dict[int, Iterator] | None = None
    self._consumed = 0
    self.truncation = truncation.Counter(config.task_feature_lengths)  # where this process's sources trim

  # --- reading ---------------------------------------------------------------------------------------------

  def start(self, saved_position: dict | None = None, step: int = 0) -> "Input":
    """Opens this process's sources at `saved_position` (a checkpoint's; None: at `step`, or the start)."""
    self._position = self._position.resume(saved_position, step)
    rows = self.layout.rows_per_shard
    if self.config.cache_dir:
      self._sources = {s: self._cache_reader(s) for s in self.shards}
    else:
      self._sources = {s: seqio_source.shard_dataset(self.config, self.converter, s, self.layout.num_shards, rows,
                                                     self.truncation)
                       .skip(self._position.batches).as_numpy_iterator() for s in self.shards}
    return self

  def _cache_reader(self, shard: int) -> cache_reader.CachedBatches:
    spec = cache_reader.CacheSpec(str(self.config.cache_dir), dict(self.config.task_feature_lengths),
                                  self.config.pack, shard, self.layout.num_shards, **self._cache_fields)
    reader = cache_reader.CachedBatches(spec, self.layout.rows_per_shard, counter=self.truncation)
    if self._position.readers is not None:
      reader.restore(self._position.readers[str(shard)])
    elif self._position.batches:
      reader.restore(cache_reader.unpacked_position(spec, self._position.batches, self.layout.rows_per_shard))
    return reader

  def __iter__(self) -> "Input":
    return self

  def __next__(self) -> dict[str, jax.Array]:
    if self._sources is None:
      raise RuntimeError("Input.start() opens the sources before the first batch")
    local = {s: next(source) for s, source in self._sources.items()}
    self._consumed += 1
    return self.to_global(local)

  def to_global(self, local: dict[int, dict[str, np.ndarray]]) -> dict[str, jax.Array]:
    """This process's rows, by data shard -> global arrays: each device gets its shard's rows."""
    sharding = partitioning.batch_sharding(self.mesh)
    rows = self.layout.rows_per_shard
    first = next(iter(local.values()))

    def rows_of(key: str):
      return lambda index: np.asarray(local[(index[0].start or 0) // rows][key])

    return {k: jax.make_array_from_callback((self.layout.batch_size, *np.shape(v)[1:]), sharding, rows_of(k))
            for k, v in first.items()}

  # --- position --------------------------------------------------------------------------------------------

  def position(self) -> dict:
    """The position after the batches handed out, as saved with a checkpoint. With DATA_CACHE_DIR every
    process must call this at the same step (the data shards' reader positions are gathered)."""
    readers = self._reader_positions() if self.config.cache_dir else None
    return self._position.advanced(self._consumed, readers).to_json()

  def _reader_positions(self) -> dict[str, dict]:
    table = np.full((self.layout.num_shards, len(_READER_STATE)), -1, np.int64)
    for s, reader in self._sources.items():
      state = reader.state()
      table[s] = [int(state[k]) for k in _READER_STATE]
    if jax.process_count() > 1:  # each shard is read by at least one process, identically by all that read it
      table = np.asarray(multihost_utils.process_allgather(table)).max(axis=0)
    return {str(s): dict(zip(_READER_STATE, map(int, row))) for s, row in enumerate(table)}

  def close(self) -> None:
    """Stops the cache readers' prefetch threads."""
    for source in (self._sources or {}).values():
      if isinstance(source, cache_reader.CachedBatches):
        source.close()
    self._sources = None


def evaluation_batches(config: DatasetConfig, mesh: jax.sharding.Mesh, model, count: int) -> Iterator[dict]:
  """The first `count` global batches of `config` (validation loss during training), fewer if it ends."""
  inputs = Input(config, mesh, model).start()
  try:
    for _ in range(count):
      yield next(inputs)
  except StopIteration:
    return
  finally:
    inputs.close()

