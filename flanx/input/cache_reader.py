"""Training batches from a data cache (flanx/input/data_cache.py), read with Grain: each data shard its own
records, and a position that a restart restores in O(1) instead of replaying the batches before it.

Data shard s of S (flanx/input/layout.py) reads the cache's records s, s + S, s + 2S, ... (Grain's MapDataset
over the ArrayRecord shards, sliced), so no two shards read the same record, and the processes that hold the
same shard read the same rows. After the last record
it starts again at its first (the cache is a sample of the mixture's stream; write as many examples as the run
needs to see it once).

Rows are what the model's seqio feature converter makes of the same examples, computed in numpy:
  * EncDecFeatureConverter (T5): inputs and targets each trimmed (EOS kept last) and padded to
    TASK_FEATURE_LENGTHS;
  * PrefixLMFeatureConverter (PaLM-style): inputs and targets concatenated into one sequence of
    inputs + targets length, the input prefix marked in `decoder_causal_attention` (one position more) and,
    with loss_on_targets_only, no loss on it;
  * packed: seqio's packing, exactly: consecutive examples are taken in chunks of max(packed feature lengths),
    and within a chunk each example joins the current row while every feature still fits, else starts a new one.
So a one-shard reader yields the rows seqio yields for the cached stream (tests/test_data_cache.py checks it).

The position is (first example of the current chunk, rows of that chunk already handed out). Restoring it
repacks one chunk, at most max(packed feature lengths) examples, whatever the step.
"""

import dataclasses
import os
from collections.abc import Iterator, Mapping

import numpy as np
import seqio

from flanx.errors import FlanxError
from flanx.input import data_cache, truncation

ENC_DEC = "enc_dec"  # seqio.EncDecFeatureConverter's rows
PREFIX_LM = "prefix_lm"  # seqio.PrefixLMFeatureConverter's rows


def _trim(tokens: np.ndarray, length: int, add_eos: bool, eos_id: int) -> np.ndarray:
  """seqio's append_eos_after_trim on an example cached with its EOS: an overlong one keeps EOS last."""
  if tokens.size <= length:
    return tokens
  return np.concatenate([tokens[:length - 1], [eos_id]]).astype(tokens.dtype) if add_eos else tokens[:length]


def _shift_right(x: np.ndarray) -> np.ndarray:
  return np.concatenate([[0], x[:-1]]).astype(x.dtype)


def _pad(x, n: int) -> np.ndarray:
  return np.pad(np.asarray(x, np.int32), (0, n - len(x)))


def _segments(positions: np.ndarray, tokens: np.ndarray) -> np.ndarray:
  """seqio: a segment starts wherever the position is 0 (padding too, which the token mask zeroes)."""
  return (np.cumsum(positions == 0) * (tokens != 0)).astype(np.int32)


def _enc_dec_row(inputs, targets, lengths: Mapping[str, int], segments=None) -> dict[str, np.ndarray]:
  """Task features of one row (padded) -> EncDecFeatureConverter's model features."""
  li, lt = lengths["inputs"], lengths["targets"]
  enc, dec = _pad(inputs, li), _pad(targets, lt)
  dec_inputs = _shift_right(dec)
  row = {"encoder_input_tokens": enc, "decoder_target_tokens": dec}
  if segments is not None:
    enc_pos, dec_pos = _pad(segments["inputs_positions"], li), _pad(segments["targets_positions"], lt)
    enc_seg, dec_seg = _segments(enc_pos, enc), _segments(dec_pos, dec)
    dec_inputs = dec_inputs * (dec_seg == _shift_right(dec_seg))
    row.update(encoder_segment_ids=enc_seg, encoder_positions=enc_pos,
               decoder_segment_ids=dec_seg, decoder_positions=dec_pos)
  row["decoder_input_tokens"] = dec_inputs.astype(np.int32)
  row["decoder_loss_weights"] = (dec != 0).astype(np.int32)
  return row


def _prefix_lm_features(ex: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """PrefixLMFeatureConverter's task features before padding or packing: the concatenated sequence, and the
  prefix's width (and width + 1) repeated along it."""
  inputs, targets = ex["inputs"], ex["targets"]
  if targets.size == 0:
    targets = np.zeros(1, np.int32)  # seqio stands one padding token in for empty targets
  width = inputs.size
  size = inputs.size + targets.size
  # A width of 0 would read as padding when packing; seqio carries it as -1 and puts the 0 back after.
  return {"targets": np.concatenate([inputs, targets]).astype(np.int32),
          "inputs_width": np.full(size, width if width else -1, np.int32),
          "inputs_width_add_pos": np.full(size, width + 1, np.int32)}


def _prefix_lm_row(features: Mapping[str, np.ndarray], length: int, loss_on_targets_only: bool,
                   packed: bool) -> dict[str, np.ndarray]:
  """PrefixLM task features of one row (packed: with `targets_positions`) -> the converter's model features."""
  tokens = _pad(features["targets"], length)
  width = _pad(features["inputs_width"], length)
  width = np.where(width == -1, 0, width)  # seqio restores the empty prefix's stand-in after packing
  width_add_pos = _pad(features["inputs_width_add_pos"], length)
  inputs = _shift_right(tokens)
  if packed:
    positions = _pad(features["targets_positions"], length)
    segments = _segments(positions, tokens)
    inputs = inputs * (segments == _shift_right(segments))
  else:
    positions = np.arange(length, dtype=np.int32)
  weights = tokens != 0
  if loss_on_targets_only:
    weights = weights ^ (positions < width)  # real tokens past the prefix
  row = {"decoder_target_tokens": tokens, "decoder_input_tokens": inputs.astype(np.int32),
         "decoder_loss_weights": weights.astype(np.int32),
         "decoder_causal_attention": (positions < width_add_pos).astype(np.int32)}
  if packed:
    row.update(decoder_segment_ids=segments, decoder_positions=positions)
  return row


def _pack(examples: list[dict[str, np.ndarray]], lengths: Mapping[str, int]) -> list[dict[str, np.ndarray]]:
  """seqio's tf-ops packing of one chunk: greedy, in order, a row closes when the next example does not fit.
  Each row: every feature of `lengths` and its `<feature>_positions`, not yet padded."""
  keys = tuple(lengths)
  rows, partial = [], None
  for ex in examples:
    one = {k: ex[k][:np.count_nonzero(ex[k])] for k in keys}  # seqio drops trailing padding this way
    if partial is not None and any(len(partial[k]) + len(one[k]) > lengths[k] for k in keys):
      rows.append(partial)
      partial = None
    if partial is None:
      partial = {k: np.zeros(0, np.int32) for k in keys} | {f"{k}_positions": np.zeros(0, np.int32) for k in keys}
    for k in keys:
      seq = one[k][:lengths[k]]
      partial[k] = np.concatenate([partial[k], seq]).astype(np.int32)
      partial[f"{k}_positions"] = np.concatenate([partial[f"{k}_positions"], np.arange(len(seq), dtype=np.int32)])
  if partial is not None:
    rows.append(partial)
  return rows


@dataclasses.dataclass(frozen=True)
class CacheSpec:
  """What one data shard reads: the cache, the lengths, packed or not, whose rows (`converter`, see
  `converter_fields`), and which shard of how many."""
  directory: str
  task_feature_lengths: Mapping[str, int]
  pack: bool
  shard_index: int = 0  # which data shard of the batch (flanx/input/layout.py) these rows are
  num_shards: int = 1
  converter: str = ENC_DEC
  loss_on_targets_only: bool = True  # PREFIX_LM: no loss on the input prefix

  def __post_init__(self):
    if self.converter not in (ENC_DEC, PREFIX_LM):
      raise FlanxError(f"CacheSpec.converter is {self.converter!r}; the cache reader makes {ENC_DEC!r} or "
                       f"{PREFIX_LM!r} rows")

  @property
  def chunk(self) -> int:
    """Examples per packing chunk: seqio's max over the packed features' lengths."""
    if not self.pack:
      return 1
    lengths = [self.task_feature_lengths[k] for k in data_cache.FEATURES]
    return sum(lengths) if self.converter == PREFIX_LM else max(lengths)


def chunk_rows(examples: list[dict[str, np.ndarray]], spec: CacheSpec) -> list[dict[str, np.ndarray]]:
  """The rows `spec`'s converter makes of one chunk of (trimmed) examples: one row per example unpacked."""
  lengths = spec.task_feature_lengths
  if spec.converter == PREFIX_LM:
    length = lengths["inputs"] + lengths["targets"]
    features = [_prefix_lm_features(ex) for ex in examples]
    if spec.pack:
      features = _pack(features, dict.fromkeys(features[0], length))
    return [_prefix_lm_row(f, length, spec.loss_on_targets_only, spec.pack) for f in features]
  if spec.pack:
    return [_enc_dec_row(p["inputs"], p["targets"], lengths, p)
            for p in _pack(examples, {k: lengths[k] for k in data_cache.FEATURES})]
  return [_enc_dec_row(ex["inputs"], ex["targets"], lengths) for ex in examples]


def _records(spec: CacheSpec, counter: truncation.Counter | None = None):
  """One data shard's slice of the cache's records, decoded and trimmed (each counted by `counter` first): a
  Grain MapDataset."""
  import grain  # grain is imported only by runs that read a cache
  manifest = data_cache.Manifest.read(spec.directory)
  if manifest.examples < spec.num_shards:
    raise FlanxError(f"data cache {spec.directory} holds {manifest.examples} examples, fewer than the "
                     f"{spec.num_shards} data shards reading it")
  source = grain.sources.ArrayRecordDataSource([os.fspath(p) for p in manifest.paths(spec.directory)])
  lengths = dict(spec.task_feature_lengths)
  missing = [k for k in data_cache.FEATURES if k not in lengths]
  if missing:
    raise FlanxError(f"TASK_FEATURE_LENGTHS lacks {missing[0]!r}, which the data cache {spec.directory} holds")

  def load(record: bytes) -> dict[str, np.ndarray]:
    ex = data_cache.decode(record)
    if counter is not None:
      counter.observe({k: ex[k].size for k in data_cache.FEATURES})
    return {k: _trim(ex[k], lengths[k], manifest.add_eos[k], manifest.eos_id) for k in data_cache.FEATURES}

  ds = grain.MapDataset.source(source)[spec.shard_index::spec.num_shards]
  return manifest, ds.map(load)


def _row_iterator_class():
  import grain

  class RowIterator(grain.DatasetIterator):
    """Rows of one data shard; state {'start', 'row'}: the chunk's first example and rows already given."""

    def __init__(self, spec: CacheSpec, counter: truncation.Counter | None):
      super().__init__()
      self._spec = spec
      _, self._records = _records(spec, counter)
      self._size = len(self._records)
      self._start, self._row, self._rows, self._rows_at = 0, 0, [], -1

    def _chunk_rows(self) -> list[dict[str, np.ndarray]]:
      if self._rows_at != self._start:
        examples = [self._records[(self._start + i) % self._size] for i in range(self._spec.chunk)]
        self._rows = chunk_rows(examples, self._spec)
        self._rows_at = self._start
      return self._rows

    def __next__(self) -> dict[str, np.ndarray]:
      rows = self._chunk_rows()
      if self._row >= len(rows):
        self._start, self._row = self._start + self._spec.chunk, 0
        rows = self._chunk_rows()
      self._row += 1
      return rows[self._row - 1]

    def get_state(self) -> dict:
      return {"start": self._start, "row": self._row}

    def set_state(self, state: dict) -> None:
      self._start, self._row = int(state["start"]), int(state["row"])

  return RowIterator


def row_dataset(spec: CacheSpec, counter: truncation.Counter | None = None):
  """A Grain IterDataset of one data shard's rows (the examples TASK_FEATURE_LENGTHS cut counted by `counter`)."""
  import grain
  iterator_class = _row_iterator_class()

  class Rows(grain.IterDataset):
    def __iter__(self):
      return iterator_class(spec, counter)

  return Rows()


class CachedBatches:
  """One data shard's batches (local_batch rows each), with Grain's prefetch; `state()`/`restore()` in O(1)."""

  def __init__(self, spec: CacheSpec, local_batch: int, prefetch: int = 2,
               counter: truncation.Counter | None = None):
    import grain
    ds = row_dataset(spec, counter).batch(local_batch, drop_remainder=True)
    if prefetch:
      ds = grain.experimental.ThreadPrefetchIterDataset(ds, prefetch_buffer_size=prefetch)
    self.spec = spec
    self._iterator = iter(ds)

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    return next(self._iterator)

  def state(self) -> dict:
    """The position after the last batch handed out (prefetched batches not counted)."""
    return self._iterator.get_state()

  def restore(self, state: dict) -> None:
    self._iterator.set_state(state)

  def close(self) -> None:
    """Stops the prefetch thread (left to the garbage collector, it may outlive the modules it needs)."""
    self._iterator.close()


def check_vocabulary(directory: str, vocabulary) -> None:
  """Cached token ids are only meaningful to a model with the vocabulary that wrote them."""
  manifest = data_cache.Manifest.read(directory)
  if manifest.vocabulary != data_cache.describe(vocabulary):
    raise FlanxError(f"data cache {directory} was written with {manifest.vocabulary}, but this run's vocabulary "
                     f"is {data_cache.describe(vocabulary)}: rewrite it with `flanx data cache --vocab ...`")


def check_mixture(manifest: data_cache.Manifest, directory: str, mixture: str, split: str) -> None:
  """A cache holds one mixture's split; read under another MIXTURE_OR_TASK_NAME it would train on the wrong data
  with no word. (Feature lengths need no check: the cache holds untrimmed examples, trimmed here at read time.)"""
  if (manifest.mixture, manifest.split) != (mixture, split):
    raise FlanxError(f"data cache {directory} (DATA_CACHE_DIR) was written for {manifest.mixture!r} split "
                     f"{manifest.split!r}, but this run trains on {mixture!r} split {split!r}: point DATA_CACHE_DIR "
                     f"at a cache of {mixture!r} (`flanx data cache {mixture} --split {split} --out DIR`) or set it "
                     f"to None")


def converter_fields(feature_converter) -> dict:
  """The CacheSpec fields that make `feature_converter`'s rows (T5's EncDec, PaLM's PrefixLM converter); a
  converter whose rows the reader does not make is one line."""
  kinds = {seqio.EncDecFeatureConverter: ENC_DEC, seqio.PrefixLMFeatureConverter: PREFIX_LM}
  kind = kinds.get(type(feature_converter))
  if kind is None or feature_converter.bos_id != 0:
    what = type(feature_converter).__name__ + (f"(bos_id={feature_converter.bos_id})" if kind else "")
    raise FlanxError(f"DATA_CACHE_DIR makes the rows of seqio.EncDecFeatureConverter and "
                     f"seqio.PrefixLMFeatureConverter with bos_id 0; this model uses {what}: set DATA_CACHE_DIR=None "
                     f"to read through seqio")
  return {"converter": kind, "loss_on_targets_only": bool(getattr(feature_converter, "loss_on_targets_only", True))}


def unpacked_position(spec: CacheSpec, batches: int, local_batch: int) -> dict:
  """The position after `batches` batches, from the count alone: exact for unpacked rows (one example each)."""
  if spec.pack:
    raise FlanxError(f"the checkpoint has no cache-reader position (it was written reading through seqio), and "
                     f"packed rows do not say how many examples {batches} batches took: train from a fresh "
                     f"MODEL_DIR with DATA_CACHE_DIR, or keep DATA_CACHE_DIR=None for this one")
  return {"start": batches * local_batch, "row": 0}
