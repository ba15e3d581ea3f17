"""Training batches from a data cache (flanx/data_cache.py), read with Grain: each process its own records,
and a position that a restart restores in O(1) instead of replaying the batches before it.

Process p of P reads the cache's records p, p + P, p + 2P, ... (Grain's MapDataset over the ArrayRecord shards,
sliced), so no two processes read the same record and none reads or renders the others'. After the last record
it starts again at its first (the cache is a sample of the mixture's stream; write as many examples as the run
needs to see it once).

Rows are what seqio.EncDecFeatureConverter makes of the same examples, computed in numpy:
  * unpacked: each example trimmed (EOS kept last) and padded to TASK_FEATURE_LENGTHS;
  * packed: seqio's packing, exactly: consecutive examples are taken in chunks of max(TASK_FEATURE_LENGTHS),
    and within a chunk each example joins the current row while every feature still fits, else starts a new one.
So a one-process reader yields the rows seqio yields for the cached stream (tests/test_data_cache.py checks it).

The position is (first example of the current chunk, rows of that chunk already handed out). Restoring it
repacks one chunk, at most max(TASK_FEATURE_LENGTHS) examples, whatever the step.
"""

import dataclasses
import os
from collections.abc import Iterator, Mapping

import numpy as np

from flanx import data_cache
from flanx.errors import FlanxError


def _trim(tokens: np.ndarray, length: int, add_eos: bool, eos_id: int) -> np.ndarray:
  """seqio's append_eos_after_trim on an example cached with its EOS: an overlong one keeps EOS last."""
  if tokens.size <= length:
    return tokens
  return np.concatenate([tokens[:length - 1], [eos_id]]).astype(tokens.dtype) if add_eos else tokens[:length]


def _shift_right(x: np.ndarray) -> np.ndarray:
  return np.concatenate([[0], x[:-1]]).astype(x.dtype)


def _enc_dec_row(inputs, targets, lengths: Mapping[str, int], segments=None) -> dict[str, np.ndarray]:
  """Task features of one row (padded) -> EncDecFeatureConverter's model features."""
  def pad(x, n):
    return np.pad(np.asarray(x, np.int32), (0, n - len(x)))
  li, lt = lengths["inputs"], lengths["targets"]
  enc, dec = pad(inputs, li), pad(targets, lt)
  dec_inputs = _shift_right(dec)
  row = {"encoder_input_tokens": enc, "decoder_target_tokens": dec}
  if segments is not None:
    enc_pos, dec_pos = pad(segments["inputs_positions"], li), pad(segments["targets_positions"], lt)
    # seqio: a segment starts wherever the position is 0 (padding too, which the token mask zeroes).
    enc_seg = np.cumsum(enc_pos == 0) * (enc != 0)
    dec_seg = np.cumsum(dec_pos == 0) * (dec != 0)
    dec_inputs = dec_inputs * (dec_seg == _shift_right(dec_seg))
    row.update(encoder_segment_ids=enc_seg.astype(np.int32), encoder_positions=enc_pos,
               decoder_segment_ids=dec_seg.astype(np.int32), decoder_positions=dec_pos)
  row["decoder_input_tokens"] = dec_inputs.astype(np.int32)
  row["decoder_loss_weights"] = (dec != 0).astype(np.int32)
  return row


def pack_chunk(examples: list[dict[str, np.ndarray]], lengths: Mapping[str, int]) -> list[dict[str, np.ndarray]]:
  """seqio's tf-ops packing of one chunk: greedy, in order, a row closes when the next example does not fit."""
  keys = ("inputs", "targets")
  rows, partial = [], None

  def close(p):
    rows.append(_enc_dec_row(p["inputs"], p["targets"], lengths, p))

  for ex in examples:
    one = {k: ex[k][:np.count_nonzero(ex[k])] for k in keys}  # seqio drops trailing padding this way
    if partial is not None and any(len(partial[k]) + len(one[k]) > lengths[k] for k in keys):
      close(partial)
      partial = None
    if partial is None:
      partial = {k: np.zeros(0, np.int32) for k in keys} | {f"{k}_positions": np.zeros(0, np.int32) for k in keys}
    for k in keys:
      seq = one[k][:lengths[k]]
      partial[k] = np.concatenate([partial[k], seq]).astype(np.int32)
      partial[f"{k}_positions"] = np.concatenate([partial[f"{k}_positions"], np.arange(len(seq), dtype=np.int32)])
  if partial is not None:
    close(partial)
  return rows


@dataclasses.dataclass(frozen=True)
class CacheSpec:
  """What a process reads: the cache, the lengths, packed or not, and its place among the processes."""
  directory: str
  task_feature_lengths: Mapping[str, int]
  pack: bool
  process_index: int = 0
  process_count: int = 1

  @property
  def chunk(self) -> int:
    return max(self.task_feature_lengths.values()) if self.pack else 1


def _records(spec: CacheSpec):
  """This process's slice of the cache's records, decoded and trimmed: a Grain MapDataset."""
  import grain  # noqa: PLC0415
  manifest = data_cache.Manifest.read(spec.directory)
  if manifest.examples < spec.process_count:
    raise FlanxError(f"data cache {spec.directory} holds {manifest.examples} examples, fewer than the "
                     f"{spec.process_count} processes reading it")
  source = grain.sources.ArrayRecordDataSource([os.fspath(p) for p in manifest.paths(spec.directory)])
  lengths = dict(spec.task_feature_lengths)
  missing = [k for k in data_cache.FEATURES if k not in lengths]
  if missing:
    raise FlanxError(f"TASK_FEATURE_LENGTHS lacks {missing[0]!r}, which the data cache {spec.directory} holds")

  def load(record: bytes) -> dict[str, np.ndarray]:
    ex = data_cache.decode(record)
    return {k: _trim(ex[k], lengths[k], manifest.add_eos[k], manifest.eos_id) for k in data_cache.FEATURES}

  ds = grain.MapDataset.source(source)[spec.process_index::spec.process_count]
  return manifest, ds.map(load)


def _row_iterator_class():
  import grain  # noqa: PLC0415

  class RowIterator(grain.DatasetIterator):
    """Rows of one process; state {'start', 'row'}: the chunk's first example and rows already given."""

    def __init__(self, spec: CacheSpec):
      super().__init__()
      self._spec = spec
      _, self._records = _records(spec)
      self._size = len(self._records)
      self._start, self._row, self._rows, self._rows_at = 0, 0, [], -1

    def _chunk_rows(self) -> list[dict[str, np.ndarray]]:
      if self._rows_at != self._start:
        examples = [self._records[(self._start + i) % self._size] for i in range(self._spec.chunk)]
        if self._spec.pack:
          self._rows = pack_chunk(examples, self._spec.task_feature_lengths)
        else:
          ex = examples[0]
          self._rows = [_enc_dec_row(ex["inputs"], ex["targets"], self._spec.task_feature_lengths)]
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


def row_dataset(spec: CacheSpec):
  """A Grain IterDataset of this process's rows."""
  import grain  # noqa: PLC0415
  iterator_class = _row_iterator_class()

  class Rows(grain.IterDataset):
    def __iter__(self):
      return iterator_class(spec)

  return Rows()


class CachedBatches:
  """This process's batches (local_batch rows each), with Grain's prefetch; `state()`/`restore()` in O(1)."""

  def __init__(self, spec: CacheSpec, local_batch: int, prefetch: int = 2):
    import grain  # noqa: PLC0415
    ds = row_dataset(spec).batch(local_batch, drop_remainder=True)
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


def check_converter(feature_converter) -> None:
  """The cache reader makes EncDecFeatureConverter's rows; other model families read through seqio for now."""
  import seqio  # noqa: PLC0415
  if type(feature_converter) is not seqio.EncDecFeatureConverter:
    raise FlanxError(f"DATA_CACHE_DIR feeds encoder-decoder models (seqio.EncDecFeatureConverter); this model uses "
                     f"{type(feature_converter).__name__}: set DATA_CACHE_DIR=None to read through seqio")


def unpacked_position(spec: CacheSpec, batches: int, local_batch: int) -> dict:
  """The position after `batches` batches, from the count alone: exact for unpacked rows (one example each)."""
  if spec.pack:
    raise FlanxError(f"the checkpoint has no cache-reader position (it was written reading through seqio), and "
                     f"packed rows do not say how many examples {batches} batches took: train from a fresh "
                     f"MODEL_DIR with DATA_CACHE_DIR, or keep DATA_CACHE_DIR=None for this one")
  return {"start": batches * local_batch, "row": 0}
