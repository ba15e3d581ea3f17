"""TASK_FEATURE_LENGTHS shorter than the data: counted where the input trims (flanx/input/truncation.py), with
seqio's rows unchanged. Training's once-only line: tests/test_train_run.py; the cache reader: test_data_cache.py."""

import itertools

import numpy as np
import pytest
import seqio
import tensorflow as tf

import tasks  # noqa: F401  registers flanx_demo
from flanx import vocab
from flanx.input import seqio_source, truncation
from flanx.input.config import DatasetConfig


@pytest.fixture(autouse=True)
def _byte_vocabulary():
  vocab.use(seqio.ByteVocabulary())


def test_counter_trims_as_append_eos_after_trim_and_counts_each_feature():
  eos_feature = seqio.Feature(seqio.ByteVocabulary(), add_eos=True)
  features = {"inputs": eos_feature, "targets": seqio.Feature(seqio.ByteVocabulary(), add_eos=False)}
  lengths = {"inputs": 8, "targets": 4}
  # Sizes before EOS: inputs 3, 7 (8 with EOS: fits exactly), 8 and 12 (cut); targets 2, 5 (cut), 4, 9 (cut).
  raw = [{"inputs": np.arange(3, 3 + n, dtype=np.int32), "targets": np.arange(3, 3 + m, dtype=np.int32)}
         for n, m in ((3, 2), (7, 5), (8, 4), (12, 9))]

  def dataset():
    return tf.data.Dataset.from_generator(lambda: iter(raw), output_signature={
        k: tf.TensorSpec([None], tf.int32) for k in ("inputs", "targets")})

  def with_eos(sequence_length):
    return seqio.preprocessors.append_eos_after_trim(dataset(), features, sequence_length)

  counter = truncation.Counter(lengths)
  got = list(with_eos(None).map(counter.tf_trim(features)).as_numpy_iterator())
  want = [dict(ex, targets=ex["targets"][:4]) for ex in with_eos(lengths).as_numpy_iterator()]
  for row, expected in zip(got, want, strict=True):
    for k in lengths:
      np.testing.assert_array_equal(row[k], expected[k])
  assert counter.snapshot() == truncation.Truncation(lengths, seen=4, cut={"inputs": 2, "targets": 2},
                                                     cut_examples=3)
  counter.observe({"inputs": 9, "targets": 1})  # the cache reader's way adds to the same counts
  snapshot = counter.snapshot()
  assert (snapshot.seen, snapshot.cut, snapshot.cut_examples) == (5, {"inputs": 3, "targets": 2}, 4)
  assert snapshot.line(final=True) == ("flanx: TASK_FEATURE_LENGTHS cut 4 of the 5 examples read (inputs: 3 longer "
                                       "than 8 tokens, targets: 2 longer than 4 tokens, EOS included); raise them "
                                       "to keep whole examples")
  assert "of the first 5 examples read" in snapshot.line()


def _rows(lengths: dict, pack: bool, counter=None, count: int = 6) -> list[dict]:
  config = DatasetConfig(mixture_or_task_name="flanx_demo", task_feature_lengths=lengths, split="train",
                         batch_size=4, shuffle=True, seed=3, pack=pack)
  ds = seqio_source.shard_dataset(config, seqio.EncDecFeatureConverter(pack=pack), 0, 2, 4, counter)
  return list(itertools.islice(ds.as_numpy_iterator(), count))


@pytest.mark.parametrize("pack", [False, True])
def test_counted_rows_are_seqios_and_count_what_the_lengths_cut(pack):
  short = {"inputs": 8, "targets": 16}  # every demo input ("copy: abc" and longer, with EOS) is cut, no target
  counter = truncation.Counter(short)
  counted = _rows(short, pack, counter)
  for row, expected in zip(counted, _rows(short, pack), strict=True):
    for k in expected:
      np.testing.assert_array_equal(row[k], expected[k], err_msg=k)
  cut = counter.snapshot()
  assert cut.seen >= 24 and cut.cut_examples == cut.seen and cut.cut == {"inputs": cut.seen, "targets": 0}
  roomy = truncation.Counter({"inputs": 32, "targets": 16})  # the demo's own lengths: nothing is cut
  _rows(roomy.lengths, pack, roomy, count=2)
  assert roomy.snapshot().seen >= 8 and roomy.snapshot().cut_examples == 0 and roomy.snapshot().line() == ""


def test_tasks_that_shape_examples_to_the_lengths_keep_seqios_own_path():
  name = "truncation_length_shaped"
  if name not in seqio.TaskRegistry.names():
    def shaped(dataset, sequence_length):  # e.g. span corruption: the lengths decide the example
      return dataset
    seqio.TaskRegistry.add(name, source=seqio.FunctionDataSource(
        lambda split, shuffle_files, seed=None: tf.data.Dataset.from_tensors({"inputs": [4, 5], "targets": [6]}),
        splits=("train",)), preprocessors=[shaped], output_features=vocab.output_features())
  assert seqio_source.trims_only_at_the_end("flanx_demo")
  assert not seqio_source.trims_only_at_the_end(name)


def test_data_cache_says_what_lengths_would_cut():
  """`flanx data cache` has no TASK_FEATURE_LENGTHS (the cache is untrimmed): it says the lengths it wrote."""
  summary = truncation.LengthSummary(("inputs", "targets"))
  assert summary.line() == ""
  stream = ({"inputs": np.zeros(n), "targets": np.zeros(2)} for n in range(1, 201))
  assert len(list(summary.tap(stream))) == 200
  assert summary.line() == ("tokens per example with EOS: inputs longest 200, 99% within 199; targets longest 2, "
                            "99% within 2; TASK_FEATURE_LENGTHS shorter than the longest cut examples (training "
                            "says how many)")
