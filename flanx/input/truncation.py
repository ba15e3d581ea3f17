"""How many examples TASK_FEATURE_LENGTHS cut: counted where the input trims them, reported once by training.

An example's feature is cut when its tokens (EOS included, as the task appends it) are more than the feature's
length: seqio's `append_eos_after_trim` keeps the first length - 1 tokens and the EOS, the cache reader does the
same. The counts grow as the sources read (prefetched examples included); nothing is read twice to get them.
The seqio path counts through two TensorFlow variables updated in its tf.data map, the cache reader through
plain integers in its Grain map; `Counter.snapshot()` reads both. `flanx data cache` has no lengths (the cache
is untrimmed): `LengthSummary` tells it what lengths would cut.
"""

import array
import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Truncation:
  """Examples read so far, and per feature how many were longer than its length."""
  lengths: Mapping[str, int]
  seen: int
  cut: Mapping[str, int]
  cut_examples: int  # examples with at least one feature cut

  def line(self, final: bool = False) -> str:
    """One line for the log; '' when nothing was cut."""
    if not self.cut_examples:
      return ""
    per_feature = ", ".join(f"{k}: {n:,} longer than {self.lengths[k]} tokens" for k, n in self.cut.items() if n)
    then = "raise them to keep whole examples" if final else "the final count comes at the end of training"
    return (f"flanx: TASK_FEATURE_LENGTHS cut {self.cut_examples:,} of the {'' if final else 'first '}"
            f"{self.seen:,} examples read ({per_feature}, EOS included); {then}")


class Counter:
  """Counts, per feature, the examples longer than `lengths` as the input trims them."""

  def __init__(self, lengths: Mapping[str, int]):
    self.lengths = dict(lengths)
    self._features = tuple(self.lengths)
    self._lock = threading.Lock()
    self._counts = np.zeros(len(self._features) + 2, np.int64)  # [seen, cut per feature..., cut examples]
    self._tf_counts = None  # a tf.Variable of the same layout, made by the first seqio map

  # --- the cache reader (numpy, one call per example) ----------------------------------------------------

  def observe(self, sizes: Mapping[str, int]) -> None:
    """One example's untrimmed feature sizes."""
    cut = [int(sizes[k] > self.lengths[k]) for k in self._features]
    with self._lock:
      self._counts += [1, *cut, int(any(cut))]

  # --- the seqio path (a tf.data map) --------------------------------------------------------------------

  def tf_trim(self, output_features: Mapping) -> Callable[[dict], dict]:
    """A tf.data map that counts each example, then trims it as seqio's append_eos_after_trim does with
    these lengths (an example that gets its EOS keeps it last)."""
    import tensorflow as tf
    if self._tf_counts is None:
      self._tf_counts = tf.Variable(tf.zeros(len(self._features) + 2, tf.int64), trainable=False)
    counts = self._tf_counts

    def keep_eos_last(tokens, length: int, eos_id: int):
      return tf.cond(tf.size(tokens) > length, lambda: tf.concat([tokens[:length - 1], [eos_id]], 0),
                     lambda: tokens)

    def trim(example: dict) -> dict:
      example = dict(example)
      cut = []
      for k in self._features:
        tokens, length = example[k], self.lengths[k]
        cut.append(tf.size(tokens, out_type=tf.int64) > length)
        feature = output_features.get(k)
        if feature is not None and feature.add_eos:
          example[k] = keep_eos_last(tokens, length, tf.cast(feature.vocabulary.eos_id, tokens.dtype))
        else:
          example[k] = tokens[:length]
      flags = tf.cast(tf.stack(cut), tf.int64)
      with tf.control_dependencies([counts.assign_add(tf.concat([[1], flags, [tf.reduce_max(flags)]], 0))]):
        return {k: tf.identity(v) for k, v in example.items()}

    return trim

  # --- reading -------------------------------------------------------------------------------------------

  def snapshot(self) -> Truncation:
    with self._lock:
      counts = self._counts.copy()
    if self._tf_counts is not None:
      counts = counts + self._tf_counts.numpy()
    return Truncation(lengths=self.lengths, seen=int(counts[0]),
                      cut={k: int(n) for k, n in zip(self._features, counts[1:-1])}, cut_examples=int(counts[-1]))


class LengthSummary:
  """The token counts (EOS included) of the examples that pass through `tap`, per feature."""

  def __init__(self, features: Sequence[str]):
    self._sizes = {k: array.array("I") for k in features}

  def tap(self, stream: Iterator[dict]) -> Iterator[dict]:
    for example in stream:
      for k, sizes in self._sizes.items():
        sizes.append(len(example[k]))
      yield example

  def line(self) -> str:
    """What TASK_FEATURE_LENGTHS would cut, in one line ('' before any example)."""
    if not any(self._sizes.values()):
      return ""
    parts = []
    for k, sizes in self._sizes.items():
      values = np.frombuffer(sizes, np.uint32)
      parts.append(f"{k} longest {int(values.max()):,}, 99% within {int(np.percentile(values, 99, method='higher')):,}")
    return (f"tokens per example with EOS: {'; '.join(parts)}; TASK_FEATURE_LENGTHS shorter than the longest cut "
            f"examples (training says how many)")
