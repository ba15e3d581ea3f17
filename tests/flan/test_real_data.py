"""Loaders on the real release files in ../shared/data (skipped when absent), and P3's TFRecord layout."""

import itertools

import pytest
import seqio
import tensorflow as tf

import tasks  # noqa: F401  registers everything
from flanx import data_dir, data_status, vocab
from flanx.templates import ANSWER_PHRASE, templates_for
from tasks.flan import names, readers, registry
from tasks.flan.sources import Source


@pytest.fixture(autouse=True)
def byte_vocab():
  vocab.use(seqio.ByteVocabulary())


@pytest.fixture
def real_data(shared_data):
  data_dir.set_data_dir(shared_data)
  yield shared_data
  data_dir.set_data_dir(None)


def test_cot_tsv_loader_reads_the_real_files(real_data):
  t = registry.TASKS[names.task("cot", "aqua", "cot_zs")]
  records = list(itertools.islice(t.source.reader.records(), 50))
  assert len(records) == 50 and all(r["answer"].startswith("(") for r in records)
  assert "\n(A)" in records[0]["question"]  # the TSV's escaped newlines are real newlines
  examples = list(itertools.islice(t.examples(seed=0), 300))
  assert {e["template"] for e in examples} == set(range(len(templates_for("cot"))))
  for e, r in zip(examples, records):
    assert e["targets"] == f"{r['rationale']} {ANSWER_PHRASE} {r['answer']}."


def test_real_cot_task_through_seqio(real_data):
  ds = seqio.get_mixture_or_task(names.task("cot", "gsm8k", "cot_fs")).get_dataset(
      {"inputs": 2048, "targets": 512}, split="train", shuffle=False)
  rows = list(itertools.islice(ds.as_numpy_iterator(), 5))
  assert len(rows) == 5 and all(r["targets_pretokenized"].decode().endswith(".") for r in rows)
  assert all(len(r["inputs"]) <= 2048 for r in rows)


def test_data_status_lists_the_present_sources(real_data, capsys):
  rows = data_status.status()
  present = {(f, d) for f, d, ok, _ in rows if ok}
  cot = {d for f, d in present if f == "cot"}
  assert cot == {"aqua", "creak", "ecqa", "gsm8k", "qasc", "sensemaking", "strategyqa"}
  assert data_status.main(["status"]) == 0
  assert "cot" in capsys.readouterr().out


def test_p3_reader_reads_the_tfrecord_layout(tmp_path):
  folder = tmp_path / "p3/data/quartz_given_the_fact"
  folder.mkdir(parents=True)
  with tf.io.TFRecordWriter(str(folder / "train.tfrecord-00000-of-00001")) as w:
    for q, a in (("Is ice cold?", "yes"), ("Is fire cold?", "no")):
      feature = {
          "inputs_pretokenized": tf.train.Feature(bytes_list=tf.train.BytesList(value=[q.encode()])),
          "targets_pretokenized": tf.train.Feature(bytes_list=tf.train.BytesList(value=[a.encode()])),
          "answer_choices": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"yes", b"no"])),
      }
      w.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
  source = Source("t0sf", "quartz", "prompted", readers.P3(lambda: tmp_path, "quartz"), 2)
  assert source.reader.present()
  records = list(source.reader.records())
  assert records == [
      {"inputs": "Is ice cold?", "answer": "yes", "options": ["yes", "no"], "template_id": 0},
      {"inputs": "Is fire cold?", "answer": "no", "options": ["yes", "no"], "template_id": 0},
  ]
