"""How the raw-route mixtures are made up (issue 23): T0-SF prompts interleaved and one task each, the Table 3
ladder's task counts, and NIV2 weighted by its real instance counts. Small hand-built files in the real layouts."""

import collections
import itertools
import json

import gin
import pytest
import seqio

import tasks  # noqa: F401  registers everything
from flanx import data_dir, inspect, vocab
from flanx.templates import ANSWER_PHRASE
from tasks.flan import cot, mixing, names, niv2, niv2_counts, readers, registry, t0sf
from tasks.flan.niv2_catalog import NIV2_TASKS

LENGTHS = {"inputs": 256, "targets": 64}
QUARTZ = t0sf.prompts_of("quartz")[:3]


@pytest.fixture(autouse=True)
def byte_vocab():
  vocab.use(seqio.ByteVocabulary())


def _p3_folder(root, prompt: str, n: int) -> None:
  folder = root / "p3/data" / prompt
  folder.mkdir(parents=True)
  rows = ({"inputs_pretokenized": f"[{prompt}] question {i}", "targets_pretokenized": f"answer {i}",
           "answer_choices": []} for i in range(n))
  (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def p3_dir(tmp_path):
  for prompt in QUARTZ:
    _p3_folder(tmp_path, prompt, 400)
  data_dir.set_data_dir(tmp_path)
  yield tmp_path
  data_dir.set_data_dir(None)


def test_p3_reader_interleaves_its_prompt_folders(p3_dir):
  # Read one after another, the first 1,000 records (seqio's shuffle buffer) would all be prompt 0.
  records = readers.P3(lambda: p3_dir, "quartz", QUARTZ).records()
  first = collections.Counter(r["template_id"] for r in itertools.islice(records, 300))
  assert first == {0: 100, 1: 100, 2: 100}


def test_every_t0sf_prompt_is_mixed_in_from_the_first_batch(p3_dir):
  gin.bind_parameter("allow_partial_mixture.allow", True)
  ds = seqio.get_mixture_or_task(names.family_mixture("t0sf", "zs_noopt")).get_dataset(
      LENGTHS, split="train", shuffle=True, seed=0, passthrough_features=["task"])
  tasks_seen = collections.Counter(r["task"].decode() for r in itertools.islice(ds.as_numpy_iterator(), 90))
  assert set(tasks_seen) == set(QUARTZ)
  assert min(tasks_seen.values()) >= 15  # 30 each expected: the three prompts weigh the same


def test_t0sf_is_one_task_per_prompt_capped_at_20k():
  table = inspect.rates(names.family_mixture("t0sf", "zs_opt"))
  assert len(table) == len(t0sf.PROMPTS) == 193
  per_prompt = table.set_index("dataset")["rate"]
  # amazon_polarity (3.6M records per prompt) is capped; quarel (1,941) is not.
  assert per_prompt["amazon_polarity_Is_this_review"] == pytest.approx(per_prompt["wiki_bio_who"])
  capped = per_prompt["amazon_polarity_Is_this_review"]
  assert per_prompt["quarel_testing_students"] == pytest.approx(capped * 1_941 / 20_000)
  assert set(table["format"]) == {"zs_opt"} and not any("inverted" in t for t in table["task"])


def test_ladder_task_counts():
  ladder = inspect.ladder()
  assert ladder["paper tasks"].tolist() == [9, 89, 282, 1836]
  # CoT 9 and T0-SF 193 as in the paper; Muffin 75 of its 80 (five datasets have no public release) and the
  # 1,556 NIV2 tasks of the collection's list (the paper says 1,554).
  assert ladder["tasks"].tolist() == [9, 9 + 75, 9 + 75 + 193, 9 + 75 + 193 + 1556]


def _niv2_file(directory, name: str, instances: int) -> None:
  task = {"Definition": [f"Do {name}."], "Positive Examples": [{"input": "x", "output": "y"}],
          "Instances": [{"id": f"{name}-{i}", "input": f"in {i}", "output": [f"out {i}"]} for i in range(instances)]
          + [{"id": f"{name}-empty", "input": "no answer", "output": []}]}  # yields no example: not counted
  (directory / f"{name}.json").write_text(json.dumps(task))


NIV2 = niv2.kept(NIV2_TASKS)[:3]


@pytest.fixture
def niv2_dir(tmp_path):
  directory = tmp_path / "niv2/tasks"
  directory.mkdir(parents=True)
  for name, n in zip(NIV2, (30, 6_000)):  # the third task has no file
    _niv2_file(directory, name, n)
  data_dir.set_data_dir(tmp_path)
  yield directory
  data_dir.set_data_dir(None)


def test_niv2_tasks_weigh_their_real_counts_capped_at_5k(niv2_dir):
  rate = {t: mixing.capped_rate(names.task("niv2", t, "zs_noopt"), mixing.CAPS["niv2"], 2) for t in NIV2}
  assert rate[NIV2[0]] == pytest.approx(30 / 2)
  assert rate[NIV2[1]] == pytest.approx(5_000 / 2)  # capped
  assert rate[NIV2[2]] == pytest.approx(5_000 / 2)  # no file: the uniform declaration
  table = inspect.rates(names.family_mixture("niv2", "zs_noopt"))
  sizes = table.set_index("dataset")
  assert sizes.loc[NIV2[0], "examples"] == 30 and sizes.loc[NIV2[0], "size from"] == "counted"
  assert sizes.loc[NIV2[2], "examples"] == 5_000 and sizes.loc[NIV2[2], "size from"] == "declared"


def test_niv2_counts_are_recorded_and_reused(niv2_dir):
  assert niv2_counts.counts(niv2_dir)[f"{NIV2[0]}.json"] == 30
  record = json.loads((niv2_dir / niv2_counts.RECORD).read_text())
  assert record[f"{NIV2[0]}.json"]["count"] == 30
  # A later process trusts the record while the file is unchanged (size and time), and recounts when it changes.
  record[f"{NIV2[0]}.json"]["count"] = 17
  (niv2_dir / niv2_counts.RECORD).write_text(json.dumps(record))
  niv2_counts._counts.cache_clear()
  assert niv2_counts.counts(niv2_dir)[f"{NIV2[0]}.json"] == 17
  _niv2_file(niv2_dir, NIV2[0], 31)
  niv2_counts._counts.cache_clear()
  assert niv2_counts.counts(niv2_dir)[f"{NIV2[0]}.json"] == 31


def test_cot_and_dialog_inversions_are_tasks_at_three_tenths_of_their_parents_rate():
  for family, parents in (("cot", tuple(cot.DATASETS)), ("muffin", ("qrecc", "task_master", "wiki_dialog"))):
    table = inspect.rates(names.family_mixture(family)).groupby("dataset")["rate"].sum()
    for parent in parents:
      assert table[f"{parent}_input_inversion"] == pytest.approx(0.3 * table[parent])
  cot_tasks = inspect.rates(names.family_mixture("cot"))
  assert len(set(cot_tasks["dataset"])) == 18 and inspect.task_counts(names.family_mixture("cot"))["cot"] == 9
  # Flan 2021 datasets invert inline (one of their templates) and T0-SF not at all: no inverted format anywhere.
  assert not [t for t in inspect.rates(names.proportion("b"))["format"] if t == "inverted"]


def test_a_cot_inversion_example_recovers_a_part_from_the_others():
  task = registry.TASKS[names.task("cot", "gsm8k_input_inversion", "cot_zs", mini=True)]
  parent = registry.TASKS[names.task("cot", "gsm8k", "cot_zs", mini=True)]
  for ex, original in zip(task.examples(seed=0), parent.source.reader.records()):
    assert ANSWER_PHRASE not in ex["targets"]  # not the CoT target: the question and/or the reasoning
    assert original["question"] in ex["targets"] or original["rationale"] in ex["targets"]
