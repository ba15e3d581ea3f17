"""Mixtures with missing sources: one clear error by default, the present sources with ALLOW_PARTIAL_MIXTURE."""

import itertools
import shutil

import gin
import pytest
import seqio

import tasks  # noqa: F401  registers everything
from flanx import data_dir, vocab
from flanx.errors import FlanxError
from tasks.flan import mixing, names, partial, registry
from tests.flan import collection_fixtures as fx

LENGTHS = {"inputs": 512, "targets": 128}
PRESENT_COT = ("gsm8k", "aqua")


@pytest.fixture(autouse=True)
def byte_vocab():
  vocab.use(seqio.ByteVocabulary())


@pytest.fixture
def some_sources(tmp_path):
  """A data directory with two of the nine CoT files and one T0-SF prompt folder, from the embedded fixtures."""
  for d in PRESENT_COT:
    target = tmp_path / f"flan_cot/cot_data/{d}_train.tsv"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(registry.MINI_ROOT / f"flan_cot/cot_data/{d}_train.tsv", target)
  shutil.copytree(registry.MINI_ROOT / "p3/data/quartz_answer_question_based_on",
                  tmp_path / "p3/data/quartz_answer_question_based_on")
  data_dir.set_data_dir(tmp_path)
  yield tmp_path
  data_dir.set_data_dir(None)


def allow(value=True):
  gin.parse_config(f"ALLOW_PARTIAL_MIXTURE = {value!r}\nallow_partial_mixture.allow = %ALLOW_PARTIAL_MIXTURE")


def draw(mixture: str, n: int) -> list[dict]:
  ds = seqio.get_mixture_or_task(mixture).get_dataset(LENGTHS, split="train", shuffle=True, seed=0,
                                                       passthrough_features=["task", "family"])
  return [{k: row[k].decode() for k in ("task", "family")} for row in itertools.islice(ds.as_numpy_iterator(), n)]


def test_missing_sources_are_one_clear_error_by_default(some_sources):
  with pytest.raises(FlanxError) as e:
    seqio.get_mixture_or_task(names.family_mixture("cot", "cot_zs")).get_dataset(LENGTHS, split="train")
  message = str(e.value)
  assert "\n" not in message and "is missing sources (per family: cot 7 of 9)" in message
  assert f"cot source 'creak' (expected at {some_sources}/flan_cot/cot_data/creak_train.tsv)" in message
  assert "set ALLOW_PARTIAL_MIXTURE=True" in message and "and 4 more" in message
  assert "the flag --allow_partial of `flanx data cache`" in message


def test_partial_family_mixture_uses_the_present_sources(some_sources, capsys):
  allow()
  rows = draw(names.family_mixture("cot", "cot_zs"), 60)
  assert {r["task"].removesuffix("_input_inversion") for r in rows} == set(PRESENT_COT)
  err = capsys.readouterr().err
  assert "built from the present sources (ALLOW_PARTIAL_MIXTURE); missing sources per family: cot 7 of 9" in err
  assert "family shares used: cot 100.0%" in err


def test_partial_cross_family_mixture_keeps_the_families_ratio(some_sources, capsys):
  allow()
  mixture = seqio.get_mixture_or_task(names.proportion("b"))
  plan = partial.plan(mixture)
  b = mixing.PROPORTION_B
  assert plan.used_shares == pytest.approx({"cot": 100 * b["cot"] / (b["cot"] + b["t0sf"]),
                                            "t0sf": 100 * b["t0sf"] / (b["cot"] + b["t0sf"])})
  assert plan.configured_shares == pytest.approx({f: 100 * v / sum(b.values()) for f, v in b.items()})
  assert {registry.TASKS[n].source.paper_task for n in plan.rates} == {*PRESENT_COT, "quartz_answer_question_based_on"}
  rows = draw(names.proportion("b"), 300)
  assert {r["family"] for r in rows} == {"cot", "t0sf"}
  cot = sum(r["family"] == "cot" for r in rows) / len(rows)
  assert 0.01 < cot < 0.15  # 6.1% expected
  err = capsys.readouterr().err
  assert "muffin 75 of 75" in err and "niv2 1556 of 1556" in err and "t0sf 192 of 193" in err
  assert "family shares used: t0sf 93.9%, cot 6.1%" in err


def test_partial_released_mixture(tmp_path, capsys):
  gin.bind_parameter("collection_dir.path", str(tmp_path))
  fx.exported_jsonl(tmp_path, "cot", "cot", "zs_opt")
  fx.exported_jsonl(tmp_path, "cot", "cot", "fs_opt")
  fx.open_orca(tmp_path, "t0", "t0", "zs_opt")
  with pytest.raises(FlanxError, match="per family: dialog 2 of 2, flan2021 4 of 4, niv2 2 of 2, t0 3 of 4"):
    draw(names.released_mixture(), 1)
  allow()
  plan = partial.plan(seqio.get_mixture_or_task(names.released_mixture()))
  assert plan.used_shares == pytest.approx({"cot": 100 * 5 / 37, "t0": 100 * 32 / 37})
  assert {r["family"] for r in draw(names.released_mixture(), 50)} == {"cot", "t0"}


def test_nothing_present_is_an_error_even_when_allowed(tmp_path):
  data_dir.set_data_dir(tmp_path)
  try:
    allow()
    with pytest.raises(FlanxError, match="none of its sources is present, even with ALLOW_PARTIAL_MIXTURE"):
      seqio.get_mixture_or_task(names.family_mixture("cot")).get_dataset(LENGTHS, split="train")
  finally:
    data_dir.set_data_dir(None)


@pytest.mark.parametrize("value", ["'yes'", "1", "None", "''"])
def test_the_flag_takes_only_true_or_false(value):
  gin.parse_config(f"allow_partial_mixture.allow = {value}")
  with pytest.raises(FlanxError, match="ALLOW_PARTIAL_MIXTURE=.*: use True or False") as e:
    partial.allow_partial_mixture()
  assert "\n" not in str(e.value)


def test_the_finetune_config_wires_the_macro():
  text = (registry.MINI_ROOT.parents[2] / "gin/runs/finetune.gin").read_text()
  assert "ALLOW_PARTIAL_MIXTURE = False" in text and "allow_partial_mixture.allow = %ALLOW_PARTIAL_MIXTURE" in text


def test_inspect_samples_a_partial_mixture_when_asked(some_sources, capsys):
  from flanx import cli
  mixture = names.family_mixture("cot", "cot_zs")
  assert cli.main(["inspect", mixture, "-n", "2", "--vocab", "byte"]) == 2
  assert "is missing sources (per family: cot 7 of 9)" in capsys.readouterr().err
  assert cli.main(["inspect", mixture, "-n", "2", "--vocab", "byte", "--allow-partial"]) == 0
  captured = capsys.readouterr()
  assert "family shares used: cot 100.0%" in captured.err and captured.out.count("=>") == 2
