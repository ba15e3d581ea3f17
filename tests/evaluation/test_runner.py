"""The runner end to end on the fixtures, with fake predictors in seqio's predict_fn format."""

import json

import pytest

from flanx import vocab
from flanx.evaluation import evaluator, results as results_lib


def oracle(ds):
  """Echoes the gold target tokens (decoder_target_tokens of the enc-dec feature converter)."""
  return [(int(i), ex["decoder_target_tokens"].tolist()) for i, ex in ds.as_numpy_iterator()]


def constant(text):
  tokens = vocab.active().encode(text)
  return lambda ds: [(int(i), tokens) for i, _ in ds.as_numpy_iterator()]


def test_oracle_scores_100_and_writes_files(fixture_data, tmp_path):
  r = evaluator.evaluate("flan_heldout", oracle, step=100, model_dir=str(tmp_path),
                         feature_lengths={"inputs": 2048, "targets": 64}, progress=False)
  assert all(v == pytest.approx(100.0) for v in r["table5"].values()), r["table5"]
  assert r["overlong"]["mgsm"] == {"over": 0, "total": 33, "longest": r["overlong"]["mgsm"]["longest"]}
  out = results_lib.eval_dir(tmp_path, 100)
  assert json.loads((out / "results.json").read_text())["table5"]["Norm. avg"] == pytest.approx(100.0)
  table = (out / "results.md").read_text()
  assert "| step | MMLU-Direct | MMLU-CoT | BBH-Direct | BBH-CoT | TyDiQA | MGSM | Norm. avg |" in table
  assert "### mgsm" in table and "| zh |" in table and "| word_sorting |" in table
  rows = [json.loads(line) for line in (out / "predictions" / "tydiqa.jsonl").read_text().splitlines()]
  assert len(rows) == 16 and all(r["correct"] and r["em"] == 100 for r in rows)
  assert set(rows[0]) >= {"prompt", "target", "output", "answer", "correct"}
  assert (out / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert not list(out.rglob("*.tmp"))


def test_constant_predictor_matches_hand_computation(fixture_data, tmp_path):
  # "(A)" is right for MMLU val row 0 of 2 (50%); for BBH option tasks example 0 of 3, and never for the 6 label
  # and 4 free-form tasks: 17/27 * 100/3. It has no number (MGSM 0) and normalises to '' for SQuAD (TyDiQA 0).
  r = evaluator.evaluate("flan_heldout", constant("(A)"), step=5, model_dir=str(tmp_path), progress=False)
  t = r["table5"]
  bbh = 17 / 27 * 100 / 3
  assert t["MMLU-Direct"] == pytest.approx(50) and t["MMLU-CoT"] == pytest.approx(50)
  assert t["BBH-Direct"] == pytest.approx(bbh) and t["BBH-CoT"] == pytest.approx(bbh)
  assert t["TyDiQA"] == 0 and t["MGSM"] == 0
  # Normalised: MMLU (50-25)/75; BBH per subtask: option tasks (33.3-25)/75, label tasks (0-50)/50, free-form 0.
  bbh_norm = (17 * 100 * (100 / 3 - 25) / 75 + 6 * -100) / 27
  assert t["Norm. avg"] == pytest.approx((2 * 100 / 3 + 2 * bbh_norm) / 6)


def test_single_benchmark_and_test_split(fixture_data, tmp_path):
  r = evaluator.evaluate("mgsm", constant("Die Antwort lautet 2.125"), step=1, model_dir=str(tmp_path), progress=False)
  m = r["settings"]["mgsm"]["metrics"]
  assert m["count"] == 33 and r["table5"]["MGSM"] == 0 and r["table5"]["Norm. avg"] is None  # '2.125' is decimal
  r = evaluator.evaluate("flan_heldout", oracle, step=2, model_dir=str(tmp_path), split="test", progress=False)
  assert set(r["settings"]) == {"mmlu_direct", "mmlu_cot"} and "bbh_cot" in r["skipped"]


def test_history_and_plot_across_steps(fixture_data, tmp_path):
  for step, fn in ((10, constant("(A)")), (20, oracle)):
    evaluator.evaluate("mmlu_direct", fn, step=step, model_dir=str(tmp_path), progress=False)
  h = results_lib.history(tmp_path)
  assert list(h) == [10, 20] and h[10]["table5"]["MMLU-Direct"] == 50 and h[20]["table5"]["MMLU-Direct"] == 100


def test_self_consistency_votes_over_samples(fixture_data, tmp_path):
  v = vocab.active()

  def sample_fn(ds, num_samples, temperature):
    assert (num_samples, temperature) == (40, 0.7)  # gin defaults
    # 2 of 5 samples say 12, 3 say 2,125 (in English phrasing) -> the vote is 2125: right for problem 1 only.
    samples = [v.encode("The answer is 12.")] * 2 + [v.encode("... The answer is 2,125.")] * 3
    return [(int(i), samples) for i, _ in ds.as_numpy_iterator()]

  r = evaluator.evaluate("mgsm", constant("12"), step=3, model_dir=str(tmp_path), sample_fn=sample_fn, progress=False)
  metrics = r["settings"]["mgsm"]["metrics"]
  assert metrics["correct/en"] == pytest.approx(100 / 3)
  rows = [json.loads(line) for line in (results_lib.eval_dir(tmp_path, 3) / "predictions" / "mgsm.jsonl").open()]
  en = [row for row in rows if row["group"] == "en"]
  assert en[0]["votes"] == ["12", "12", "2125", "2125", "2125"] and en[0]["answer"] == "2125"
