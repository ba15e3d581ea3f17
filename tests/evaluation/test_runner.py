"""The runner end to end on the fixtures, with fake predictors in seqio's predict_fn format."""

import json
import shutil

import pytest
import seqio

from flanx import vocab
from flanx.errors import FlanxError
from flanx.evaluation import evaluator, results as results_lib
from tasks.evals import suites
from tests.evaluation.conftest import FIXTURES
from tests.helpers import tmpfs


def oracle(ds):
  """Echoes the gold target tokens (decoder_target_tokens of the enc-dec feature converter)."""
  return [(int(i), ex["decoder_target_tokens"].tolist()) for i, ex in ds.as_numpy_iterator()]


def constant(text):
  tokens = vocab.active().encode(text)
  return lambda ds: [(int(i), tokens) for i, _ in ds.as_numpy_iterator()]


def run(suite, fn, tmp_path, **kwargs):
  kwargs.setdefault("step", 1)
  kwargs.setdefault("vocabulary", seqio.ByteVocabulary())  # the one tests/evaluation/conftest.py gives the tasks
  return evaluator.evaluate(suites.get(suite), fn, model_dir=str(tmp_path), progress=False, **kwargs)


def test_oracle_scores_100_and_writes_files(fixture_data, tmp_path):
  r = run("flan_heldout", oracle, tmp_path, step=100)  # each setting's own input length and decode budget
  assert all(v == pytest.approx(100.0) for v in r["table5"].values()), r["table5"]
  assert r["norm_avg_over"] == ["MMLU-Direct", "MMLU-CoT", "BBH-Direct", "BBH-CoT", "TyDiQA", "MGSM"]
  mgsm = r["prompts"]["mgsm"]
  assert mgsm["input_length"] == mgsm["longest"] and (mgsm["total"], mgsm["over"], mgsm["lost_exemplars"]) == (33, 0, 0)
  # The oracle's outputs end with EOS within every budget; the budget covers the longest exemplar answer.
  assert all(o["at_budget"] == 0 and o["decode_length"] > o["longest_exemplar_answer"] for o in r["outputs"].values())
  assert r["outputs"]["mgsm"]["total"] == 33
  out = results_lib.eval_dir(tmp_path, 100)
  assert json.loads((out / "results.json").read_text())["table5"]["Norm. avg"] == pytest.approx(100.0)
  table = (out / "results.md").read_text()
  assert "| step | MMLU-Direct | MMLU-CoT | BBH-Direct | BBH-CoT | TyDiQA | MGSM | Norm. avg |" in table
  assert "Norm. avg: over all 6 columns." in table
  assert "| mgsm | " in table and "hit the budget" in table and "lost exemplars" in table
  assert "### mgsm" in table and "| zh |" in table and "| word_sorting |" in table
  rows = [json.loads(line) for line in (out / "predictions" / "tydiqa.jsonl").read_text().splitlines()]
  assert len(rows) == 16 and all(r["correct"] and r["em"] == 100 for r in rows)
  assert set(rows[0]) >= {"prompt", "target", "output", "answer", "correct"}
  assert (out / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert not list(out.rglob("*.tmp"))


def test_constant_predictor_matches_hand_computation(fixture_data, tmp_path):
  # "The answer is (A)." is right for MMLU val row 0 of 2 (50%), direct and CoT; for BBH option tasks example 0
  # of 3, and never for the 6 label and 4 free-form tasks: 17/27 * 100/3. No number follows MGSM's English
  # phrase and the other languages' phrases are absent (0); SQuAD EM against "The Blue Way" is 0.
  t = run("flan_heldout", constant("The answer is (A)."), tmp_path, step=5)["table5"]
  bbh = 17 / 27 * 100 / 3
  assert t["MMLU-Direct"] == pytest.approx(50) and t["MMLU-CoT"] == pytest.approx(50)
  assert t["BBH-Direct"] == pytest.approx(bbh) and t["BBH-CoT"] == pytest.approx(bbh)
  assert t["TyDiQA"] == 0 and t["MGSM"] == 0
  # Normalised: MMLU (50-25)/75; BBH per subtask: option tasks (33.3-25)/75, label tasks (0-50)/50, free-form 0.
  bbh_norm = (17 * 100 * (100 / 3 - 25) / 75 + 6 * -100) / 27
  assert t["Norm. avg"] == pytest.approx((2 * 100 / 3 + 2 * bbh_norm) / 6)


def test_a_bare_letter_scores_only_in_direct_settings(fixture_data, tmp_path):
  t = run("flan_heldout", constant("A"), tmp_path)["table5"]
  assert t["MMLU-Direct"] == pytest.approx(50) and t["BBH-Direct"] == pytest.approx(17 / 27 * 100 / 3)
  assert t["MMLU-CoT"] == 0 and t["BBH-CoT"] == 0  # no answer phrase: no answer


def test_german_thousands_and_test_split(fixture_data, tmp_path):
  # "2.125" is German for 2125, the gold of problem 2 in each language: right in German only.
  r = run("mgsm", constant("Die Antwort lautet 2.125."), tmp_path)
  m = r["settings"]["mgsm"]["metrics"]
  assert m["count"] == 33 and m["correct/de"] == pytest.approx(100 / 3) and m["correct/fr"] == 0
  assert r["table5"]["MGSM"] == pytest.approx(100 / 3 / 10)
  r = run("flan_heldout", oracle, tmp_path, step=2, split="test")
  assert set(r["settings"]) == {"mmlu_direct", "mmlu_cot"} and "bbh_cot" in r["skipped"]
  assert (tmp_path / "eval" / "2" / "test" / "results.json").is_file()
  assert not (tmp_path / "eval" / "2" / "results.json").exists()  # the validation table is not touched
  with pytest.raises(FlanxError, match="suite 'bbh' has no 'test' split"):
    run("bbh", oracle, tmp_path, split="test")


def test_history_and_plot_across_steps(fixture_data, tmp_path):
  for step, fn in ((10, constant("(A)")), (20, oracle)):
    run("mmlu_direct", fn, tmp_path, step=step)
  h = results_lib.history(tmp_path)
  assert list(h) == [10, 20] and h[10]["table5"]["MMLU-Direct"] == 50 and h[20]["table5"]["MMLU-Direct"] == 100


def test_suites_run_one_at_a_time_merge_into_the_step(fixture_data, tmp_path):
  run("mmlu", oracle, tmp_path, step=7)
  out = results_lib.eval_dir(tmp_path, 7)
  first_png = (out / "scores.png").read_bytes()
  r = run("bbh", constant("(A)"), tmp_path, step=7)
  assert r["suites"] == ["mmlu", "bbh"] and set(r["settings"]) == {"mmlu_direct", "mmlu_cot", "bbh_direct", "bbh_cot"}
  t = r["table5"]
  assert t["MMLU-Direct"] == 100 and t["MMLU-CoT"] == 100 and t["BBH-CoT"] == 0 and t["TyDiQA"] is None
  assert r["norm_avg_over"] == ["MMLU-Direct", "MMLU-CoT", "BBH-Direct", "BBH-CoT"]
  saved = json.loads((out / "results.json").read_text())
  assert saved["table5"] == t and (out / "predictions" / "mmlu_cot.jsonl").is_file()
  table = (out / "results.md").read_text()
  assert "| 7 | 100.0 | 100.0 |" in table and "### mmlu_cot" in table and "### bbh_cot" in table
  assert "over 4 of 6 columns (MMLU-Direct, MMLU-CoT, BBH-Direct, BBH-CoT)" in table
  assert (out / "scores.png").read_bytes() != first_png  # redrawn with the BBH columns
  # Re-evaluating a setting replaces only its own result.
  r = run("mmlu_cot", constant("(A)"), tmp_path, step=7)
  assert r["table5"]["MMLU-CoT"] == 0 and r["table5"]["MMLU-Direct"] == 100 and r["table5"]["BBH-Direct"] > 0


def test_missing_tydiqa_is_skipped_in_the_full_suite_only(use_data, tmp_path, capsys):
  data = tmp_path / "data"
  shutil.copytree(FIXTURES, data)
  shutil.rmtree(data / "tydiqa")
  use_data(data)
  r = run("flan_heldout", oracle, tmp_path / "run")
  line = [x for x in capsys.readouterr().out.splitlines() if "tydiqa" in x]
  assert len(line) == 1 and "tydiqa-goldp-v1.1-dev.json" in line[0] and "skipped" in line[0]
  assert r["table5"]["TyDiQA"] is None and r["table5"]["Norm. avg"] == pytest.approx(100)
  assert "tydiqa" in r["missing"] and "TyDiQA" not in r["norm_avg_over"] and len(r["norm_avg_over"]) == 5
  table = (results_lib.eval_dir(tmp_path / "run", 1) / "results.md").read_text()
  assert "| 100.0 | 100.0 | 100.0 | 100.0 | missing | 100.0 | 100.0 |" in table
  assert "over 5 of 6 columns" in table and "tydiqa-goldp-v1.1-dev.json" in table
  with pytest.raises(FlanxError, match=r"missing data file .*tydiqa-goldp-v1\.1-dev\.json") as e:
    run("tydiqa", oracle, tmp_path / "run")
  assert "\n" not in str(e.value)


def test_nothing_to_evaluate_is_one_error(use_data, tmp_path):
  (tmp_path / "empty").mkdir()
  use_data(tmp_path / "empty")
  with pytest.raises(FlanxError, match="suite 'flan_heldout': no setting has its data .*missing data file"):
    run("flan_heldout", oracle, tmp_path)


def test_self_consistency_votes_over_samples(fixture_data, tmp_path):
  v = vocab.active()

  def sample_fn(ds, num_samples, temperature):
    assert (num_samples, temperature) == (40, 0.7)  # gin defaults
    # 2 of 5 samples say 12, 3 say 2,125 (in English phrasing) -> the vote is 2125: right for problem 1 only.
    samples = [v.encode("The answer is 12.")] * 2 + [v.encode("... The answer is 2,125.")] * 3
    return [(int(i), samples) for i, _ in ds.as_numpy_iterator()]

  r = run("mgsm", constant("12"), tmp_path, step=3, sample_fn=sample_fn)
  metrics = r["settings"]["mgsm"]["metrics"]
  assert metrics["correct/en"] == pytest.approx(100 / 3)
  rows = [json.loads(line) for line in (results_lib.eval_dir(tmp_path, 3) / "predictions" / "mgsm.jsonl").open()]
  en = [row for row in rows if row["group"] == "en"]
  assert en[0]["votes"] == ["12", "12", "2125", "2125", "2125"] and en[0]["answer"] == "2125"
  de = [row for row in rows if row["group"] == "de"]  # English phrasing in German: five votes for no answer
  assert de[0]["votes"] == [""] * 5 and de[0]["answer"] == ""


@pytest.mark.slow  # a fresh interpreter imports tensorflow and seqio
def test_the_evaluation_package_does_not_import_the_benchmarks():
  import subprocess
  import sys
  code = ("import sys, pkgutil, importlib, flanx.evaluation as e\n"
          "for m in pkgutil.iter_modules(e.__path__): importlib.import_module('flanx.evaluation.' + m.name)\n"
          "print(sorted(n for n in sys.modules if n == 'tasks' or n.startswith('tasks.')))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "[]"


def test_prompts_over_the_input_length_lose_exemplars_and_the_budget_reaches_the_model(fixture_data, tmp_path):
  budgets = []

  def runaway(ds, max_length):  # never emits EOS: every output uses the whole budget it is given
    budgets.append(max_length)
    return [(int(i), [vocab.active().encode("x")[0]] * max_length) for i, _ in ds.as_numpy_iterator()]

  r = run("mmlu_direct", runaway, tmp_path, feature_lengths={"inputs": 560, "targets": None})
  prompts, outputs = r["prompts"]["mmlu_direct"], r["outputs"]["mmlu_direct"]
  assert prompts["input_length"] == 560 and prompts["longest"] > 560 and prompts["cut"] == 0
  assert 0 < prompts["lost_exemplars"] == prompts["over"] < prompts["total"] == 114
  assert budgets == [outputs["decode_length"]] and outputs["at_budget"] == outputs["total"] == 114
  rows = [json.loads(line) for line in (results_lib.eval_dir(tmp_path, 1) / "predictions" / "mmlu_direct.jsonl").open()]
  assert all(len(row["prompt"].encode()) + 1 <= 560 for row in rows)  # bytes + EOS: what the model read
  assert all(row["prompt"].startswith("The following are multiple choice") and row["prompt"].endswith("\nA:")
             for row in rows)
  assert sum(row["prompt"].count("\nA: (") < 5 for row in rows) == prompts["lost_exemplars"]
  table = (results_lib.eval_dir(tmp_path, 1) / "results.md").read_text()
  assert f"| mmlu_direct | 560 | {prompts['longest']} | {prompts['lost_exemplars']}/114 | 0 |" in table
  assert "| 114/114 |" in table


def test_zero_shot_settings_are_reported_outside_the_table(fixture_data, tmp_path):
  run("mmlu_direct", oracle, tmp_path, step=4)
  r = run("bbh_zero_shot", constant("(A)"), tmp_path, step=4)
  assert r["other"] == pytest.approx({"BBH-Direct 0-shot": 17 / 27 * 100 / 3, "BBH-CoT 0-shot": 0})
  assert r["table5"]["MMLU-Direct"] == 100 and r["table5"]["Norm. avg"] == 100  # zero-shot never enters it
  assert r["norm_avg_over"] == ["MMLU-Direct"] and r["table5"]["BBH-Direct"] is None
  out = results_lib.eval_dir(tmp_path, 4)
  rows = [json.loads(line) for line in (out / "predictions" / "bbh_zeroshot_cot.jsonl").open()]
  assert all(row["prompt"].count("Q: ") == 1 and row["prompt"].endswith("A: Let's think step by step.") for row in rows)
  table = (out / "results.md").read_text()
  assert "Other settings (not in the table or Norm. avg)" in table and "| BBH-Direct 0-shot | BBH-CoT 0-shot |" in table
  # The zero-shot prompts hold no exemplar, but the few-shot exemplars' chains size their decode budget.
  assert r["outputs"]["bbh_zeroshot_cot"]["longest_exemplar_answer"] > r["outputs"]["bbh_zeroshot_direct"][
      "longest_exemplar_answer"] > 0


def test_results_from_other_data_are_refused_not_merged(use_data, tmp_path):
  data = tmp_path / "data"
  shutil.copytree(FIXTURES, data)
  use_data(data)
  r = run("mmlu_direct", oracle, tmp_path / "run")
  saved = json.loads((results_lib.eval_dir(tmp_path / "run", 1) / "results.json").read_text())
  assert saved["data"]["directory"] == str(data.resolve())
  assert saved["settings"]["mmlu_direct"]["data"].startswith("sha256:")
  assert r["data"] == saved["data"]
  use_data(FIXTURES)  # another data directory: one line, and the earlier results are left as they were
  with pytest.raises(FlanxError, match=r"results from different data are never merged") as e:
    run("mmlu_direct", oracle, tmp_path / "run")
  assert "\n" not in str(e.value) and str(data.resolve()) in str(e.value)
  use_data(data)
  csv = next((data / "mmlu").rglob("*.csv"))
  csv.write_text(csv.read_text().replace("A", "B", 1))  # the same directory, with an edited file
  with pytest.raises(FlanxError, match=r"the data of setting 'mmlu_direct' .* changed"):
    run("mmlu_direct", oracle, tmp_path / "run")
  assert json.loads((results_lib.eval_dir(tmp_path / "run", 1) / "results.json").read_text()) == saved


def test_results_without_a_data_record_are_not_merged(tmp_path):
  same = {"data": {"directory": "/d"}, "settings": {"mmlu_direct": {"data": "sha256:1"}}}
  results_lib.check_same_data(None, "/d", {"mmlu_direct": "sha256:2"}, tmp_path)  # nothing earlier
  results_lib.check_same_data(same, "/d", {"mmlu_direct": "sha256:1", "bbh_direct": "sha256:3"}, tmp_path)
  with pytest.raises(FlanxError, match=r"records no data directory \(written by an older flanx\)"):
    results_lib.check_same_data({"settings": {}}, "/d", {}, tmp_path)
  with pytest.raises(FlanxError, match=r"from data directory \(embedded fixtures\), but this run reads /d"):
    results_lib.check_same_data({"data": {"directory": None}, "settings": {}}, "/d", {}, tmp_path)


def test_a_disk_without_room_for_every_file_gets_none(fixture_data, tmp_path):
  """The files are made first and written only if all fit: an 8 KB disk has room for the predictions' targets
  (checked before decoding) but not for the plot too, so nothing is written, in one line."""
  with tmpfs(tmp_path / "disk", "8k") as disk:
    with pytest.raises(FlanxError, match=r"^EVAL_MODEL_DIR: the disk holding .*/eval/1 has 8,192 bytes free but this "
                                         r"evaluation's files need at least [\d,]+ bytes; free some space"):
      run("mmlu_direct", oracle, disk, output_name="EVAL_MODEL_DIR", num_examples=1)
    assert not list(disk.iterdir())
