"""flanx's BBH scoring against the BBH authors' own: their released Codex outputs, scored by flanx's rules, must
give their released per-task accuracies exactly.

The outputs are public (suzgunmirac/BIG-Bench-Hard, folder code-davinci-002-outputs/: code-davinci-002-cot/ and
code-davinci-002-direct/, each with <task>_few_shot_template_0-255000.json holding {"outputs": [{"input",
"prediction", "target"}]} and <task>_few_shot_template_0-255000_eval_metrics.jsonl holding {"accuracy": ...}).
They are read from the shared data (`bbh_codex_outputs/`, as the other real-data tests find their files), or
from FLANX_BBH_CODEX_OUTPUTS when it is set; the test is skipped when neither exists. A hand-made folder in the
same layout, covering every rule, is scored in every run.
"""

import json
import os
import pathlib

import pytest

from flanx.evaluation import answers, metrics
from tasks.evals import bbh
from tests.helpers import SHARED_DATA

ENV_VAR = "FLANX_BBH_CODEX_OUTPUTS"
SETTINGS = {"code-davinci-002-cot": True, "code-davinci-002-direct": False}
STEM = "_few_shot_template_0-255000"


def score(outputs: list[dict], cot: bool) -> float:
  """Accuracy in percent, through the same rule and comparison as the seqio task (bbh.rule, metrics)."""
  correct = 0
  for o in outputs:
    query = o["input"].rsplit("\n\nQ: ", 1)[-1]  # the prompt's last question, whose options the rule lists
    rule = bbh.rule(o["target"], query, cot)
    meta = {"gold": [answers.normalize(o["target"], rule)], "rule": {"format": rule.format}}
    correct += metrics.score_example(answers.extract(o["prediction"], rule), meta)["correct"]
  return 100 * correct / len(outputs)


def _read_outputs(path: pathlib.Path) -> list[dict]:
  text = path.read_text(encoding="utf-8")
  if path.suffix == ".jsonl":
    return [json.loads(line) for line in text.splitlines() if line.strip()]
  return json.loads(text)["outputs"]


def compare(root: pathlib.Path) -> tuple[list[str], list[str]]:
  """(pairs that match, mismatches described) over every task/setting with both files under `root`."""
  matched, mismatched = [], []
  for folder, cot in SETTINGS.items():
    for metrics_file in sorted((root / folder).glob(f"*{STEM}_eval_metrics.jsonl")):
      task = metrics_file.name.removesuffix(f"{STEM}_eval_metrics.jsonl")
      outputs_file = next((p for p in (root / folder / f"{task}{STEM}.json", root / folder / f"{task}{STEM}.jsonl")
                           if p.is_file()), None)
      if outputs_file is None:
        continue
      published = json.loads(metrics_file.read_text().splitlines()[0])["accuracy"]
      ours = score(_read_outputs(outputs_file), cot)
      (matched if ours == pytest.approx(published, abs=1e-9) else mismatched).append(
          f"{folder}/{task}: flanx {ours:.2f}, authors {published:.2f}")
  return matched, mismatched


SHARED_OUTPUTS = SHARED_DATA / "bbh_codex_outputs"


def test_released_codex_outputs_reproduce_the_authors_accuracies():
  root = pathlib.Path(os.environ.get(ENV_VAR) or SHARED_OUTPUTS)
  if not root.is_dir():
    pytest.skip(f"no copy of BIG-Bench-Hard's code-davinci-002-outputs/ at {root} (set {ENV_VAR})")
  matched, mismatched = compare(root)
  assert matched or mismatched, f"no <task>{STEM}_eval_metrics.jsonl with its outputs under {root}"
  print(f"BBH Codex outputs: {len(matched)} of {len(matched) + len(mismatched)} task/setting pairs reproduced")
  assert not mismatched, mismatched
  if root == SHARED_OUTPUTS:  # the released folder holds every task in both settings
    assert len(matched) == 2 * 27


# --- hand-made outputs in the released layout: the authors' rule, worked out by hand ---------------------------

DATE = ("Today is 9/7. What is the date tomorrow?\nOptions:\n(A) 09/08\n(B) 09/06\n(C) 08/09", "(A)")
SPORTS = ("Is the following sentence plausible? \"Joao Moutinho caught the screen pass.\"", "no")
HAND_MADE = {
    "code-davinci-002-cot": {
        "date_understanding": [  # (output, right by the authors' rule?)
            ("Tomorrow is 9/8. So the answer is (A).", True),
            ("Tomorrow is 9/8. So the answer is (A).\n\nQ: next", True),        # a run-on exemplar is cut
            ("It could be (A). Rechecking, 9/6 is yesterday. So the answer is (A).", True),
            ("Tomorrow is 9/8, which is (A).", False),                         # no answer phrase
            ("So the answer is (A) or (B).", False),                            # a hedge
            ("So the answer is (A) 09/08.", False),                             # more than the letter
            ("So the answer is A.", False),
            ("So the answer is (B). Wait, no: so the answer is (A).", True),    # the last phrase counts
        ],
        "sports_understanding": [
            ("Joao Moutinho is a soccer player. The screen pass is from football. So the answer is no.", True),
            ("So the answer is no", True),
            ("So the answer is No.", False),                                     # compared exactly
            ("The answer is not yes. So the answer is no.", True),
            ("Joao Moutinho is a soccer player.", False),
        ],
    },
    "code-davinci-002-direct": {
        "date_understanding": [("(A)", True), ("(B)", False), (" (A)\n", True), ("A", True), ("09/08", True),
                               ("(A) or (B)", False), ("(C) 09/08", False)],
        "sports_understanding": [("no", True), ("no.", True), ("No", False), ("yes", False)],
    },
}


def _write_hand_made(root: pathlib.Path) -> dict[str, float]:
  expected = {}
  for folder, tasks in HAND_MADE.items():
    (root / folder).mkdir(parents=True)
    for task, cases in tasks.items():
      question, target = DATE if task == "date_understanding" else SPORTS
      prompt = f"A made-up description.\n\nQ: an exemplar\nA: (B)\n\nQ: {question}\nA:"
      outputs = [{"input": prompt, "prediction": out, "target": target} for out, _ in cases]
      (root / folder / f"{task}{STEM}.json").write_text(json.dumps({"canary": "x", "outputs": outputs}))
      accuracy = 100 * sum(right for _, right in cases) / len(cases)
      (root / folder / f"{task}{STEM}_eval_metrics.jsonl").write_text(json.dumps({"accuracy": accuracy}) + "\n")
      expected[f"{folder}/{task}"] = accuracy
  return expected


def test_hand_made_outputs_in_the_released_layout(tmp_path):
  expected = _write_hand_made(tmp_path)
  matched, mismatched = compare(tmp_path)
  assert not mismatched and len(matched) == len(expected) == 4
  # The comparison can fail: a published figure one example off is reported.
  (tmp_path / "code-davinci-002-direct" / f"sports_understanding{STEM}_eval_metrics.jsonl").write_text(
      json.dumps({"accuracy": 75.0}))
  assert compare(tmp_path)[1] == ["code-davinci-002-direct/sports_understanding: flanx 50.00, authors 75.00"]
