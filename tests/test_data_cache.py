"""`flanx data cache` and the Grain reader: seqio's rows, disjoint per data shard, resumed without replay."""

import itertools
import pathlib

import jax
import numpy as np
import pytest
import seqio

from flanx import summaries
from flanx.input import cache_reader, data_cache
from tests.helpers import gin_train

LENGTHS = {"inputs": 32, "targets": 16}


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory):
  """The demo mixture's first 600 examples, written by the command, in 3 shards."""
  out = tmp_path_factory.mktemp("cache")
  assert data_cache.main(["flanx_demo", "--out", str(out), "--examples", "600", "--shard-examples", "250",
                          "--vocab", "byte"]) == 0
  return out


# The converters of the two model families: T5 (EncoderDecoderModel) and PaLM-style (DecoderOnlyModel).
CONVERTERS = {"enc_dec": seqio.EncDecFeatureConverter, "prefix_lm": seqio.PrefixLMFeatureConverter}


def _seqio_rows(converter, count: int) -> list[dict]:
  ds = seqio.get_dataset("flanx_demo", LENGTHS, dataset_split="train", shuffle=True, seed=0, num_epochs=None,
                         feature_converter=converter)
  return list(itertools.islice(ds.as_numpy_iterator(), count))


def _assert_same_rows(expected: list[dict], got: list[dict]) -> None:
  assert len(got) == len(expected)
  for i, (want, row) in enumerate(zip(expected, got)):
    assert sorted(want) == sorted(row), i
    for k in want:
      assert row[k].dtype == want[k].dtype, (i, k)
      np.testing.assert_array_equal(row[k], want[k], err_msg=f"row {i} {k}")


@pytest.mark.parametrize("kind", sorted(CONVERTERS))
@pytest.mark.parametrize("pack", [False, True])
def test_rows_equal_seqios_for_the_same_mixture(demo_cache, pack, kind):
  manifest = data_cache.Manifest.read(demo_cache)
  assert manifest.examples == 600 and manifest.shard_examples == [250, 250, 100]
  converter = CONVERTERS[kind](pack=pack)
  spec = cache_reader.CacheSpec(str(demo_cache), LENGTHS, pack, **cache_reader.converter_fields(converter))
  assert spec.converter == kind
  rows = iter(cache_reader.row_dataset(spec))
  count = 90  # packed: past the first chunks of 32 (enc-dec) or 48 (prefix LM) examples
  expected = _seqio_rows(converter, count)
  _assert_same_rows(expected, [next(rows) for _ in range(count)])
  if pack:
    segments = "encoder_segment_ids" if kind == "enc_dec" else "decoder_segment_ids"
    assert max(int(r[segments].max()) for r in expected) > 1  # rows really hold several examples


@pytest.mark.parametrize("loss_on_targets_only", [True, False])
@pytest.mark.parametrize("pack", [False, True])
def test_prefix_lm_rows_equal_seqios_for_edge_examples(pack, loss_on_targets_only):
  """Empty inputs, empty targets and rows filled to the last position, straight through seqio's converter."""
  import tensorflow as tf
  lengths = {"inputs": 5, "targets": 3}
  examples = [([7, 8, 1], [3, 1]), ([], [4, 5, 1]), ([9, 9, 9, 9, 1], []), ([6, 1], [2, 2, 1]),
              ([5, 4, 3, 2, 1], [7, 6, 1]), ([3, 1], [1]), ([], [1]), ([8, 1], [])]
  examples = [{"inputs": np.array(i, np.int32), "targets": np.array(t, np.int32)} for i, t in examples]
  converter = seqio.PrefixLMFeatureConverter(pack=pack, loss_on_targets_only=loss_on_targets_only)
  ds = tf.data.Dataset.from_generator(lambda: iter(examples), output_signature={
      k: tf.TensorSpec([None], tf.int32) for k in ("inputs", "targets")})
  expected = list(converter(ds, lengths).as_numpy_iterator())
  spec = cache_reader.CacheSpec("unused", lengths, pack, **cache_reader.converter_fields(converter))
  got = [row for start in range(0, len(examples), spec.chunk)
         for row in cache_reader.chunk_rows(examples[start:start + spec.chunk], spec)]
  _assert_same_rows(expected, got)
  if pack:
    assert len(got) < len(examples)


def test_a_converter_the_reader_does_not_make_is_one_line():
  from flanx.errors import FlanxError
  for converter in (seqio.LMFeatureConverter(pack=True), seqio.PrefixLMFeatureConverter(pack=True, bos_id=3)):
    with pytest.raises(FlanxError, match=r"DATA_CACHE_DIR makes the rows of .* set DATA_CACHE_DIR=None"):
      cache_reader.converter_fields(converter)
  with pytest.raises(FlanxError, match=r"CacheSpec.converter is 'lm'; the cache reader makes 'enc_dec' or"):
    cache_reader.CacheSpec("unused", LENGTHS, True, converter="lm")


def _synthetic_cache(out, n: int):
  """n examples whose inputs start with their own index (+2, clear of padding and EOS)."""
  stream = ({"inputs": np.array([i + 2, 1]), "targets": np.array([5, 1])} for i in itertools.count())
  manifest = data_cache.Manifest("synthetic", "train", 0, 0, [], [], "ByteVocabulary", 259, 1,
                                 {"inputs": True, "targets": True})
  return data_cache.write_examples(stream, out, n, manifest, shard_examples=37)


def test_two_data_shards_read_disjoint_records_that_cover_the_cache(tmp_path):
  _synthetic_cache(tmp_path, 101)
  seen = []
  for index in range(2):
    spec = cache_reader.CacheSpec(str(tmp_path), LENGTHS, pack=False, shard_index=index, num_shards=2)
    reader = cache_reader.CachedBatches(spec, local_batch=5)
    batches = [next(reader) for _ in range(10)]  # 50 of this process's 51 or 50 records
    reader.close()
    seen.append({int(t) - 2 for b in batches for t in b["encoder_input_tokens"][:, 0]})
  assert seen[0].isdisjoint(seen[1])
  assert len(seen[0]) == len(seen[1]) == 50
  assert all(i % 2 == 0 for i in seen[0]) and all(i % 2 == 1 for i in seen[1])


@pytest.mark.parametrize("kind", sorted(CONVERTERS))
def test_resume_seek_reads_one_chunk_whatever_the_step(demo_cache, monkeypatch, kind):
  """Restoring a position far into the run decodes one chunk's records, not the records before it."""
  spec = cache_reader.CacheSpec(str(demo_cache), LENGTHS, pack=True, converter=kind)
  assert spec.chunk == (48 if kind == "prefix_lm" else 32)
  reference = cache_reader.CachedBatches(spec, local_batch=4, prefetch=0)
  for _ in range(7):
    next(reference)
  state = reference.state()
  wanted = [next(reference) for _ in range(3)]
  decoded = []
  real_decode = data_cache.decode
  monkeypatch.setattr(data_cache, "decode", lambda record: decoded.append(1) or real_decode(record))
  for start in (state["start"], state["start"] + 10**9 * spec.chunk):
    decoded.clear()
    resumed = cache_reader.CachedBatches(spec, local_batch=4, prefetch=0)
    resumed.restore({**state, "start": start})
    got = next(resumed)
    assert len(decoded) <= 2 * spec.chunk, (start, len(decoded))  # at most the chunk and the one after it
  resumed.restore(state)
  for want, got in zip(wanted, (next(resumed) for _ in range(3))):
    for k in want:
      np.testing.assert_array_equal(got[k], want[k])
  assert got is not None


@pytest.mark.parametrize("gin_file", ["runs/demo.gin", "runs/demo_palm.gin"])  # T5, and PaLM-style (prefix LM)
def test_kill_and_resume_gives_the_uninterrupted_batches(tmp_path, demo_cache, gin_file):
  """Train 6 steps from the cache straight, and 3 + 3 with a fresh process state: same losses and parameters,
  and the checkpoint holds the reader's position, not a count to replay."""
  common = ("CHECKPOINT_PERIOD = 3", "BATCH_SIZE = 8", f"DATA_CACHE_DIR = '{demo_cache}'",
            f"TASK_FEATURE_LENGTHS = {LENGTHS}")
  straight = gin_train(tmp_path / "straight", *common, "TRAIN_STEPS = 6", gin_file=gin_file)
  gin_train(tmp_path / "resumed", *common, "TRAIN_STEPS = 3", gin_file=gin_file)
  resumed = gin_train(tmp_path / "resumed", *common, "TRAIN_STEPS = 6", gin_file=gin_file)

  def losses(run):
    return [r["loss"] for r in summaries.read_metrics(run.model_dir)]

  assert len(losses(straight)) == 6
  np.testing.assert_allclose(losses(resumed), losses(straight), rtol=1e-6)
  for a, b in zip(jax.tree.leaves(straight.state.params), jax.tree.leaves(resumed.state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  import orbax.checkpoint as ocp

  from flanx import checkpoints
  saved = ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(tmp_path / "resumed" / "checkpoint_3" /
                                                                checkpoints.DATA_POSITION)
  shards = saved["pipeline"]["num_data_shards"]  # the test's 8 devices, data-parallel
  assert shards == jax.device_count() and list(saved["readers"]) == [str(s) for s in range(shards)]  # by data shard
  assert all(set(state) == {"start", "row"} for state in saved["readers"].values())
  assert saved["pipeline"]["cache_dir"] == str(demo_cache)
  assert saved["pipeline"]["cache"] == data_cache.Manifest.read(demo_cache).fingerprint()


def test_a_missing_cache_is_one_line(tmp_path):
  from flanx.errors import FlanxError
  with pytest.raises(FlanxError, match=r"no data cache at .*manifest.json does not exist .*flanx data cache"):
    cache_reader.CachedBatches(cache_reader.CacheSpec(str(tmp_path), LENGTHS, True), 2)


@pytest.mark.parametrize("args, message", [
    (["--examples", "0"], "must be positive"),
    (["--examples", "-3"], "must be positive"),
    (["--examples", "5", "--shard-examples", "0"], "must be positive"),
])
def test_cache_command_rejects_bad_counts(tmp_path, args, message):
  from flanx.errors import FlanxError
  with pytest.raises(FlanxError, match=message):
    data_cache.main(["flanx_demo", "--out", str(tmp_path), "--vocab", "byte", *args])


def test_bench_data_reports_cache_throughput_and_flat_resume_seek(demo_cache, capsys):
  import re

  from flanx.bench import data as bench_data
  bench_data.bench_cache("flanx_demo", str(demo_cache), 40, 1, {"tokens/s": 1000.0}, seqio_rows_per_second=50.0)
  out = capsys.readouterr().out
  assert f"reading the cache {demo_cache}" in out
  rate = re.search(r"cache, packed\s+([\d.]+) examples/s\s+(\d+) tokens/s", out)
  assert rate and float(rate.group(1)) > 0 and int(rate.group(2)) > 0, out
  seeks = dict(re.findall(r"step ([\d,]+) ([\d.]+) s \(", out))
  assert set(seeks) == {"0", "10,000", "1,000,000"}, out
  # The restore does the same work at every step; allow for a noisy shared machine, not for growth with the step.
  assert float(seeks["1,000,000"]) < 20 * max(float(seeks["0"]), 0.01), out
  assert "resume seek (seqio, replayed) at step 10,000: about 1,600 s" in out


@pytest.mark.parametrize("args", [["--cache", ""], ["--cache", "x", "--cache-examples", "0"],
                                  ["--cache", "x", "--cache-examples", "-1"]])
def test_bench_data_rejects_bad_cache_flags(args):
  from flanx.bench import data as bench_data
  from flanx.errors import FlanxError
  with pytest.raises(FlanxError, match="--cache needs a directory and --cache-examples a positive count"):
    bench_data.main(["flanx_demo", "--vocab=byte", *args])


def test_a_cache_of_another_vocabulary_is_refused(tmp_path, demo_cache):
  from flanx.errors import FlanxError
  with pytest.raises(FlanxError, match=r"written with ByteVocabulary, but this run's vocabulary is "
                                       r"SentencePieceVocabulary\(.*spiece.model\)"):
    cache_reader.check_vocabulary(str(demo_cache), type("SentencePieceVocabulary", (),
                                                        {"sentencepiece_model_file": "/v/spiece.model"})())
  cache_reader.check_vocabulary(str(demo_cache), seqio.ByteVocabulary())


@pytest.mark.parametrize("recorded_sizes", [True, False])  # False: a manifest written before sizes were recorded
def test_a_truncated_shard_is_one_line_naming_it_and_the_rebuild(tmp_path, recorded_sizes):
  import dataclasses
  import json

  from flanx.errors import FlanxError
  manifest = _synthetic_cache(tmp_path, 90)
  manifest.check_shards(tmp_path)  # intact
  if not recorded_sizes:
    manifest = dataclasses.replace(manifest, shard_bytes=None)
    (tmp_path / data_cache.MANIFEST).write_text(json.dumps(dataclasses.asdict(manifest)))
  shard = tmp_path / manifest.shards[1]
  shard.write_bytes(shard.read_bytes()[:-40])
  with pytest.raises(FlanxError) as e:
    data_cache.Manifest.read(tmp_path).check_shards(tmp_path)
  message = str(e.value)
  assert "\n" not in message and f"data cache shard {shard} " in message
  assert "truncated or corrupted" in message
  assert (f"flanx data cache synthetic --out {tmp_path} --examples 90 --split train --seed 0 "
          f"--shard-examples 37 --replace") in message


def test_a_rewritten_cache_does_not_resume_silently():
  """Reader positions saved for one cache are refused for a cache written from another seed."""
  from flanx.errors import FlanxError
  from flanx.input.config import DatasetConfig
  from flanx.input.position import DataPosition

  def fingerprint(seed):
    return data_cache.Manifest("flanx_demo", "train", seed, 600, ["a"], [600], "ByteVocabulary", 259, 1,
                               {"inputs": True, "targets": True}).fingerprint()
  assert fingerprint(0) != fingerprint(1)
  config = DatasetConfig("flanx_demo", LENGTHS, 8, cache_dir="/c")
  saved = DataPosition.start(config, 2, fingerprint(0)).advanced(3, {"0": {"start": 4, "row": 1},
                                                                      "1": {"start": 4, "row": 0}}).to_json()
  resumed = DataPosition.start(config, 2, fingerprint(0)).resume(saved, 3)
  assert resumed.readers == saved["readers"] and resumed.batches == 3
  with pytest.raises(FlanxError, match=r"data cache /c is not the one the checkpoint was reading \(flanx_demo/train "
                                       r"seed 0, .*now flanx_demo/train seed 1, .*fresh MODEL_DIR"):
    DataPosition.start(config, 2, fingerprint(1)).resume(saved, 3)
  with pytest.raises(FlanxError, match=r"saved for 2 data shards, this run's mesh has 4 \(replica x data\)"):
    DataPosition.start(config, 4, fingerprint(0)).resume(saved, 3)
  # An older checkpoint: one reader position per process, which was one per data shard.
  old = {**saved, "readers": [saved["readers"]["0"], saved["readers"]["1"]]}
  assert DataPosition.start(config, 2, fingerprint(0)).resume(old, 3).readers == saved["readers"]


# --- `flanx data cache --out`: staged, renamed when complete, never mixed with other files -------------------


def _entries(directory) -> list[str]:
  return sorted(p.name for p in directory.iterdir())


def test_a_non_empty_out_is_refused_and_replace_swaps_a_cache_whole(tmp_path):
  from flanx.errors import FlanxError
  out = tmp_path / "cache"
  _synthetic_cache(out, 90)  # 3 shards
  with pytest.raises(FlanxError, match=r"--out=.* is not empty \(it holds a complete data cache\); give --replace"):
    _synthetic_cache(out, 30)
  assert data_cache.Manifest.read(out).examples == 90
  stream = ({"inputs": np.array([2, 1]), "targets": np.array([5, 1])} for _ in itertools.count())
  manifest = data_cache.Manifest("synthetic", "train", 0, 0, [], [], "ByteVocabulary", 259, 1,
                                 {"inputs": True, "targets": True})
  data_cache.write_examples(stream, out, 30, manifest, shard_examples=37, replace=True)
  assert data_cache.Manifest.read(out).examples == 30
  assert _entries(out) == ["manifest.json", "shard-00000.array_record"]  # the old shards went with the old cache
  assert _entries(tmp_path) == ["cache"]  # no staging or replaced directory left beside it


def test_replace_refuses_a_directory_that_is_not_a_cache(tmp_path):
  from flanx.errors import FlanxError
  (tmp_path / "notes.txt").write_text("mine")
  for replace, message in ((False, "holds 1 entry\\); give --replace"), (True, "and no data cache; --replace only")):
    with pytest.raises(FlanxError, match=message):
      data_cache.check_out(tmp_path, replace)
  assert _entries(tmp_path) == ["notes.txt"]


def _failing_stream(after: int, fail):
  for i in itertools.count():
    if i == after:
      fail()
    yield {"inputs": np.array([i + 2, 1]), "targets": np.array([5, 1])}


def _sigterm():
  import os
  import signal
  os.kill(os.getpid(), signal.SIGTERM)


def _error():
  raise ValueError("the source broke")


@pytest.mark.parametrize("fail, raised", [(_sigterm, KeyboardInterrupt), (_error, ValueError)],
                         ids=["sigterm", "error"])
@pytest.mark.parametrize("existing", [False, True], ids=["new", "replacing"])
def test_an_interrupted_or_failed_write_leaves_out_as_it_was(tmp_path, fail, raised, existing):
  out = tmp_path / "cache"
  if existing:
    _synthetic_cache(out, 40)
  manifest = data_cache.Manifest("synthetic", "train", 0, 0, [], [], "ByteVocabulary", 259, 1,
                                 {"inputs": True, "targets": True})
  with pytest.raises(raised):
    data_cache.write_examples(_failing_stream(50, fail), out, 90, manifest, shard_examples=37, replace=existing)
  assert _entries(tmp_path) == (["cache"] if existing else [])  # no shards, .tmp files or staging directory
  if existing:
    assert data_cache.Manifest.read(out).examples == 40
    assert len(_entries(out)) == 3


@pytest.mark.parametrize("args, message", [
    (["--split", "nosuch"], "--split 'nosuch': flanx_demo has no such split (it has 'train', 'validation')"),
    (["--out", "{file}/cache"], "--out={file}/cache is under the regular file {file}; give a directory"),
    (["--out", "{file}"], "--out={file} is a file; give a directory"),
    (["--out", "{full}"], "--out={full} is not empty (it holds 1 entry); give --replace"),
])
def test_cache_command_rejects_bad_out_and_split(tmp_path, capsys, args, message):
  from flanx import cli
  (tmp_path / "file").write_text("x")
  (tmp_path / "full").mkdir()
  (tmp_path / "full" / "mine.txt").write_text("mine")
  names = {"file": str(tmp_path / "file"), "full": str(tmp_path / "full")}
  args = [a.format(**names) for a in args]
  out = [] if "--out" in args else ["--out", str(tmp_path / "cache")]
  rc = cli.main(["data", "cache", "flanx_demo", "--examples", "5", "--vocab", "byte", *out, *args])
  captured = capsys.readouterr()
  err = captured.err
  assert rc == 2 and "Traceback" not in err and message.format(**names) in err, err
  assert err.startswith("flanx data cache: error: ") and len(err.splitlines()) == 1, err
  assert captured.out == ""  # refused before it says what it will write
  assert _entries(tmp_path) == ["file", "full"] and _entries(tmp_path / "full") == ["mine.txt"]


@pytest.mark.parametrize("mixture, vocabulary, message, not_said", [
    ("flanx_dem", "byte", "unknown task or mixture 'flanx_dem' (the MIXTURE argument of flanx data cache) (did you "
                          "mean 'flanx_demo'", "MIXTURE_OR_TASK_NAME"),
    ("flanx_demo", "sentencepiece", "no SentencePiece vocabulary: no data directory is set, so vocab/spiece.model "
                                    "cannot be found; set FLANX_DATA_DIR=/path/to/data (holding vocab/spiece.model) "
                                    "or --gin.DATA_DIR, or give --vocab byte for a model with the byte vocabulary",
     "vocab.sentencepiece.path"),
])
def test_cache_command_names_what_the_user_typed(tmp_path, capsys, monkeypatch, mixture, vocabulary, message,
                                                 not_said):
  """Its errors name its argument and flags, not the gin names train uses for them."""
  from flanx import cli, data_dir
  monkeypatch.delenv("FLANX_DATA_DIR", raising=False)
  monkeypatch.setattr(data_dir, "_installed", None)
  monkeypatch.setattr(data_dir, "_gin_value", lambda: None)  # an earlier test's parsed DATA_DIR
  rc = cli.main(["data", "cache", mixture, "--examples", "5", "--vocab", vocabulary, "--out", str(tmp_path / "c")])
  err = capsys.readouterr().err
  assert rc == 2 and err.startswith("flanx data cache: error: ") and len(err.splitlines()) == 1, err
  assert message in err and not_said not in err, err
  assert _entries(tmp_path) == []


def test_cache_command_checks_out_the_name_and_the_split_once(tmp_path, monkeypatch):
  from flanx.input import seqio_source
  calls = []
  for module, name in ((data_cache, "check_out"), (data_cache, "check_split"), (seqio_source, "check_task_name")):
    def spy(*args, _check=getattr(module, name), _name=name, **kwargs):
      calls.append(_name)
      return _check(*args, **kwargs)
    monkeypatch.setattr(module, name, spy)
  assert data_cache.main(["flanx_demo", "--examples", "3", "--vocab", "byte", "--out", str(tmp_path / "c")]) == 0
  assert sorted(calls) == ["check_out", "check_split", "check_task_name"]
  assert data_cache.Manifest.read(tmp_path / "c").examples == 3


def test_cache_command_into_a_read_only_directory(tmp_path, capsys, monkeypatch):
  import os

  from flanx import cli
  # Tests may run as root, for whom a chmod'ed directory stays writable: os.access is what is consulted.
  monkeypatch.setattr(os, "access", lambda path, mode: pathlib.Path(path) != tmp_path)
  rc = cli.main(["data", "cache", "flanx_demo", "--examples", "5", "--vocab", "byte", "--out", str(tmp_path / "c")])
  err = capsys.readouterr().err
  assert rc == 2 and f"--out={tmp_path / 'c'} is not writable ({tmp_path} does not allow it)" in err, err
  assert _entries(tmp_path) == []



def test_a_cache_of_another_mixture_or_split_is_refused():
  from flanx.errors import FlanxError
  manifest = data_cache.Manifest("gsm8k_cot", "train", 0, 600, ["a"], [600], "ByteVocabulary", 259, 1,
                                 {"inputs": True, "targets": True})
  cache_reader.check_mixture(manifest, "/c", "gsm8k_cot", "train")
  with pytest.raises(FlanxError, match=r"data cache /c \(DATA_CACHE_DIR\) was written for 'gsm8k_cot' split 'train', "
                                       r"but this run trains on 'flan2022_cot_aqua_cot_zs' split 'train'"):
    cache_reader.check_mixture(manifest, "/c", "flan2022_cot_aqua_cot_zs", "train")
  with pytest.raises(FlanxError, match=r"split 'train', but this run trains on 'gsm8k_cot' split 'validation'"):
    cache_reader.check_mixture(manifest, "/c", "gsm8k_cot", "validation")


def test_reader_counts_the_examples_the_lengths_cut(demo_cache):
  """Counted as each record is trimmed, once per example read: those longer than a feature's length."""
  import grain

  from flanx.input import truncation
  lengths = {"inputs": 12, "targets": 16}  # "copy: ab" and "reverse: abcdefgh" (with EOS): some inputs fit, some not
  counter = truncation.Counter(lengths)
  reader = cache_reader.CachedBatches(cache_reader.CacheSpec(str(demo_cache), lengths, False), 4, prefetch=0,
                                      counter=counter)
  for _ in range(3):
    next(reader)
  reader.close()
  source = grain.sources.ArrayRecordDataSource([str(p) for p in
                                                data_cache.Manifest.read(demo_cache).paths(demo_cache)])
  sizes = [data_cache.decode(source[i])["inputs"].size for i in range(12)]
  cut = sum(size > 12 for size in sizes)
  assert 0 < cut < 12
  assert counter.snapshot() == truncation.Truncation(lengths, seen=12, cut={"inputs": cut, "targets": 0},
                                                     cut_examples=cut)
