"""The registered collection: names, rates, the embedded mini collection, loaders and their errors."""

import os
import subprocess
import sys
import textwrap

import pytest
import seqio

import tasks  # noqa: F401  registers everything
from flanx import data_dir, inspect, vocab
from flanx.errors import FlanxError
from flanx.templates import ANSWER_PHRASE, formats
from tasks.flan import mixing, names, niv2, registry
from tasks.flan.pipeline import FormattedSource
from tasks.flan.released import ReleasedTask
from tasks.flan.niv2_catalog import NIV2_TASKS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def byte_vocab():
  vocab.use(seqio.ByteVocabulary())


def mini_tasks(fmt=None) -> list[FormattedSource]:
  return [t for t in registry.TASKS.values() if t.task_name.startswith(names.MINI) and (fmt is None or t.fmt == fmt)]


def test_one_task_per_dataset_and_format_with_names_from_names_module():
  for task_name, t in registry.TASKS.items():
    if isinstance(t, ReleasedTask):
      assert task_name == names.released_task(t.source.submix, t.source.template_type)
    else:
      mini = task_name.startswith(names.MINI)
      assert task_name == names.task(t.source.family, t.source.dataset, t.fmt, mini=mini)
    assert task_name in seqio.TaskRegistry.names()
  full = [t for n, t in registry.TASKS.items() if not n.startswith(names.MINI) and isinstance(t, FormattedSource)]
  by_family = {f: {t.source.paper_task for t in full if t.source.family == f} for f in names.FAMILIES}
  assert len(by_family["cot"]) == 9 and len(by_family["t0sf"]) == 193
  assert len(by_family["niv2"]) == len(niv2.kept(NIV2_TASKS)) > 1500
  for family in names.FAMILIES:
    for mini in (False, True):
      assert names.family_mixture(family, mini=mini) in seqio.MixtureRegistry.names()


@pytest.mark.parametrize("variant", names.PROPORTIONS)
def test_sampled_family_proportions_match_the_paper(variant):
  shares = inspect.family_shares(names.proportion(variant), n=20_000, seed=1)
  for family, want in mixing.PROPORTIONS[variant].items():
    assert abs(shares[family] - want) < 0.5, (family, shares[family], want)


def test_mini_mixture_has_proportion_b_and_the_ladder_grows():
  shares = inspect.family_shares(names.MINI, n=20_000, seed=2)
  for family, want in mixing.PROPORTION_B.items():
    assert abs(shares[family] - want) < 0.5
  sizes = [len(inspect.rates(name)) for name, _ in names.LADDER]
  assert sizes == sorted(sizes) and len(set(sizes)) == 4
  first = inspect.rates(names.LADDER[0][0])
  assert set(first["family"]) == {"cot"}


def test_caps_limit_a_dataset_within_its_family():
  table = inspect.rates(names.family_mixture("muffin"))
  per_dataset = table.groupby("dataset")["rate"].sum()
  # gigaword (3.8M examples) and snli (550k) are both capped at 30k: same weight; cb (250 examples) is not.
  assert per_dataset["gigaword"] == pytest.approx(per_dataset["snli"])
  assert per_dataset["cb"] == pytest.approx(per_dataset["gigaword"] * 250 / 30_000)


def test_same_seed_same_examples_and_metadata():
  t = next(t for t in mini_tasks("fs_opt"))
  a, b = list(t.examples(seed=3)), list(t.examples(seed=3))
  assert a == b
  assert a != list(t.examples(seed=4))
  assert {e["task"] for e in a} == {t.source.dataset} and {e["format"] for e in a} == {"fs_opt"}
  assert {e["family"] for e in a} == {t.source.family}


def _record_keys(t: FormattedSource) -> set[str]:
  """A distinctive string of each record of the task (its first long field)."""
  records = list(t.source.reader.records()) + (t.source.reader.exemplars() or [])
  field = {"niv2": "input", "cot": "question", "prompted": "inputs"}
  keys = {str(r.get(field.get(t.source.task_type, ""), None) or next(v for v in r.values() if isinstance(v, str)))[:80]
          for r in records}
  return {k for k in keys if len(k) >= 7}  # very short strings ("open") occur inside other tasks' text


def test_few_shot_exemplars_come_from_the_same_task_and_respect_the_budget():
  fs = [t for t in mini_tasks() if formats.FORMATS[t.fmt].few_shot]
  keys = {t.task_name: _record_keys(t) for t in fs}
  for t in fs:
    dataset = t.source.source_dataset  # a T0-SF prompt's records share text with its dataset's other prompts
    others = set().union(*(k for n, k in keys.items() if registry.TASKS[n].source.source_dataset != dataset))
    for budget in (10**6, 400):
      for ex in t.examples(seed=0, budget=budget):
        own = [k for k in keys[t.task_name] if k in ex["inputs"]]
        # At least one shot (an inverted query's own text is in its target, not its inputs; a CoT or dialog
        # inversion may show only the short answer, which is not a key).
        assert len(own) >= 1 or t.source.inverts, (t.task_name, ex["inputs"][:200])
        assert not [k for k in others - keys[t.task_name] if k in ex["inputs"]], t.task_name
        if budget == 400:
          shots = ex["inputs"].count("\n\n\n") + ex["inputs"].count("\n\n")
          assert len(vocab.active().encode(ex["inputs"])) <= 400 or shots == 0 or len(own) == 1


def test_mini_cot_targets_end_in_the_answer_phrase():
  for t in mini_tasks():
    if t.source.task_type == "cot":
      for ex in t.examples():
        assert ex["targets"].startswith(ex["targets"].split(ANSWER_PHRASE)[0])
        assert ANSWER_PHRASE in ex["targets"] and ex["targets"].endswith(".")
        answer = ex["targets"].rsplit(ANSWER_PHRASE, 1)[1].strip()[:-1]
        assert answer  # the final answer follows the phrase


def test_mini_mixture_runs_through_seqio_with_metadata():
  df = inspect.sample(names.MINI, n=20, seed=0)
  assert list(df.columns[:6]) == ["inputs", "targets", "task", "family", "template", "format"]
  assert set(df["family"]) <= set(names.FAMILIES) and df["inputs"].str.len().min() > 0
  assert (df["input_tokens"] > 0).all()


def test_niv2_exclusions(tmp_path):
  assert niv2.excluded("task706_mmmlu_answer_generation_high_school_mathematics")
  assert niv2.excluded("task1234_tydiqa_answer_generation")
  assert niv2.excluded("task999_bigbench_logical_deduction_three_objects")
  assert niv2.excluded("task062_bigbench_repeat_copy_logic") is None  # BIG-Bench, but not a BBH subtask
  assert niv2.excluded("task067_abductivenli_answer_generation") is None
  registered = {t.source.dataset for t in registry.TASKS.values() if t.source.family == "niv2"}
  assert "task9004_mmmlu_answer_generation_flanx_fixture" not in registered
  assert "task9001_flanx_unit_conversion" in registered
  assert not [n for n in registered if niv2.excluded(n)]


def test_niv2_exclusions_on_the_real_split(shared_data):
  train = (shared_data / "niv2/splits/default/train_tasks.txt").read_text().split()
  kept = niv2.kept(train)
  assert len(train) - len(kept) == sum("mmmlu" in t for t in train) == 57
  assert not [t for t in kept if "mmlu" in t or "tydiqa" in t or "mgsm" in t]


def test_a_missing_source_names_itself_and_where_it_goes(tmp_path):
  data_dir.set_data_dir(tmp_path)
  try:
    task = seqio.get_mixture_or_task(names.task("cot", "gsm8k", "cot_zs"))
    with pytest.raises(FlanxError) as err:
      task.get_dataset({"inputs": 64, "targets": 64}, split="train")
    message = str(err.value)
    assert "cot source 'gsm8k'" in message and str(tmp_path / "flan_cot/cot_data/gsm8k_train.tsv") in message
    assert "\n" not in message
    with pytest.raises(FlanxError, match="muffin source 'squad_v1'.*tfds/squad/v1.1"):
      seqio.get_mixture_or_task(names.task("muffin", "squad_v1", "zs_noopt")).get_dataset(
          {"inputs": 64, "targets": 64}, split="train")
    prompt = "quartz_answer_question_based_on"  # each T0-SF prompt is a task of its own
    with pytest.raises(FlanxError, match=f"t0sf source '{prompt}'.*p3/data/{prompt};"):
      seqio.get_mixture_or_task(names.task("t0sf", prompt, "zs_opt")).get_dataset({"inputs": 64, "targets": 64})
  finally:
    data_dir.set_data_dir(None)


def test_importing_the_tasks_opens_no_data_file(tmp_path):
  script = textwrap.dedent(f"""
      import sys
      opened = []
      sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
      import tasks
      bad = [p for p in opened if p.startswith({str(tmp_path)!r}) or "/tasks/flan/mini/" in p]
      print(len(bad)); sys.exit(1 if bad else 0)
  """)
  env = dict(os.environ, FLANX_DATA_DIR=str(tmp_path), FLANX_COLLECTION_DIR=str(tmp_path / "collection"),
             TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
  assert result.returncode == 0, result.stdout + result.stderr[-2000:]
