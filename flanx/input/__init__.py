"""The input path: a DatasetConfig and the mesh -> global batches and their saved position.

  config.py         DatasetConfig (gin: train/DatasetConfig), MIXTURE_OR_TASK_MODULE's default
  layout.py         the data layout derived from the mesh: data shards, rows per shard, which hosts read which
  seqio_source.py   the mixture through seqio: registering and checking it, one data shard's batches
  data_cache.py     `flanx data cache`: a mixture's tokenized stream written once to ArrayRecord shards
  cache_reader.py   DATA_CACHE_DIR: one data shard's rows read from that cache with Grain, seqio's rows exactly
  truncation.py     how many examples TASK_FEATURE_LENGTHS cut, counted where seqio's path and the reader trim
  position.py       DataPosition, saved with every checkpoint, keyed by data shard
  pipeline.py       Input: the one object training holds (next global batch, position, restore)
"""
