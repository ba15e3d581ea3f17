"""Writes the tiny made-up benchmark fixtures, in each benchmark's release layout, to a directory.

    python tests/evaluation/make_fixtures.py tasks/evals/fixtures

Every item is invented here (simple arithmetic and counting), so the fixtures carry no benchmark content.
Deterministic: the constant-predictor test's expected scores are worked out from these rules by hand:
  MMLU val/test: 2 rows per subject with answers A then B.           BBH: 3 examples per subtask; option tasks
  have golds (A), (B), (C); label tasks their first, second, first label; free-form tasks numbers/words.
  MGSM: 3 problems per language, answers 12, 2,125 and 7.            TyDiQA: 2 dev questions per language
  (+1 English, excluded), 1 train question per language.
"""

import csv
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tasks.evals import names

CANARY = "FIXTURE DATA WRITTEN FOR FLANX TESTS. not a benchmark canary\n-----\n"
MGSM_PHRASES = {  # (question prefix, answer prefix, answer phrase)
    "bn": ("প্রশ্ন: ", "ধাপে ধাপে উত্তর:", "উত্তর হল"),
    "de": ("Frage: ", "Schritt-für-Schritt-Antwort:", "Die Antwort lautet"),
    "en": ("Question: ", "Step-by-Step Answer:", "The answer is"),
    "es": ("Pregunta: ", "Respuesta paso a paso:", "La respuesta es"),
    "fr": ("Question : ", "Réponse étape par étape :", "La réponse est"),
    "ja": ("問題：", "ステップごとの答え：", "答えは"),
    "ru": ("Задача: ", "Пошаговое решение:", "Ответ —"), "sw": ("Swali: ", "Jibu la Hatua kwa Hatua:", "Jibu ni"),
    "te": ("ప్రశ్న: ", "దశలవారీగా సమాధానం:", "సమాధానం"), "th": ("โจทย์: ", "คำตอบทีละขั้นตอน:", "คำตอบคือ"),
    "zh": ("问题：", "逐步解答：", "答案是"),
}


def _mc_row(subject: str, i: int, answer: str) -> list[str]:
  a = i + 2
  options = [str(a + k) for k in range(4)]
  correct = "ABCD".index(answer)
  options[correct], options[0] = options[0], options[correct]  # a + 0 is the right sum
  return [f"In {subject.replace('_', ' ')} item {i}, what is {a} + 0?", *options, answer]


def mmlu(root: pathlib.Path) -> None:
  cot = {}
  for subject in names.MMLU_SUBJECTS:
    for split, n in (("dev", 5), ("val", 2), ("test", 2)):
      p = root / "mmlu" / "data" / split / f"{subject}_{split}.csv"
      p.parent.mkdir(parents=True, exist_ok=True)
      with open(p, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(_mc_row(subject, i, "AB"[i % 2]) for i in range(n))
    header = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}."
    shots = [f"Q: What is {k} + 1?\n(A) {k} (B) {k + 1} (C) {k + 2} (D) {k + 3}\nA: Let's think step by step. "
             f"Adding one to {k} gives {k + 1}. The answer is (B)." for k in (3, 5)]
    cot[subject] = "\n\n".join([header, *shots])
  (root / "mmlu-cot").mkdir(parents=True, exist_ok=True)
  (root / "mmlu-cot" / "mmlu-cot.json").write_text(json.dumps(cot, indent=1), encoding="utf-8")


def _bbh_item(task: str, i: int) -> tuple[str, str]:
  if task in names.BBH_LABEL_SETS:
    labels = names.BBH_LABEL_SETS[task]
    return f"Statement {i} for {task}: is it so?", labels[i % 2]
  if task in names.BBH_FREE_FORM:
    return f"Count to {i + 2} for {task}.", str(i + 2)
  options = "\n".join(f"({letter}) choice {letter.lower()}{i}" for letter in "ABCD")
  return f"Pick the item marked {'ABC'[i]} for {task}.\nOptions:\n{options}", f"({'ABC'[i]})"


def bbh(root: pathlib.Path) -> None:
  (root / "bbh" / "bbh").mkdir(parents=True, exist_ok=True)
  (root / "bbh" / "cot-prompts").mkdir(parents=True, exist_ok=True)
  for task in names.BBH_TASKS:
    examples = [dict(zip(("input", "target"), _bbh_item(task, i))) for i in range(3)]
    (root / "bbh" / "bbh" / f"{task}.json").write_text(
        json.dumps({"canary": CANARY.split("\n")[0], "examples": examples}))
    shots = [_bbh_item(task, i) for i in (1, 0, 2)]
    prompt = "\n\n".join([f"A made-up description of {task}."] + [
        f"Q: {q}\nA: Let's think step by step.\nThe item asked for is {a}. So the answer is {a}." for q, a in shots])
    (root / "bbh" / "cot-prompts" / f"{task}.txt").write_text(CANARY + prompt)


def mgsm(root: pathlib.Path) -> None:
  d = root / "mgsm"
  d.mkdir(parents=True, exist_ok=True)
  exemplars, phrases = {}, {"languages": {}}
  for lang, (qp, ap, phrase) in MGSM_PHRASES.items():
    exemplars[lang] = [{"q": f"{qp}{x} + {y} = ?", "a": f"{ap} {x} + {y} = {x + y}. {phrase} {x + y}."}
                       for x, y in ((2, 3), (4, 4))]
    phrases["languages"][lang] = {"question_prefix": qp, "answer_prefix": ap, "answer_is": phrase,
                                  "answer_is_variants": {phrase: 2}}
    (d / f"mgsm_{lang}.tsv").write_text("".join(f"{q}\t{a}\n" for q, a in (
        ("10 + 2 = ?", "12"), ("2000 + 125 = ?", "2,125"), ("\"3\" + 4 = ?", "7"))), encoding="utf-8")
  (d / "exemplars.json").write_text(json.dumps(exemplars, ensure_ascii=False, indent=1), encoding="utf-8")
  (d / "prompt_phrases.json").write_text(json.dumps(phrases, ensure_ascii=False, indent=1), encoding="utf-8")


def _squad(items: list[tuple[str, str, str, list[str]]]) -> dict:
  return {"version": "TyDiQA-GoldP-1.1-fixture", "data": [{"title": iid, "paragraphs": [{"context": ctx, "qas": [
      {"id": iid, "question": q, "answers": [{"text": a, "answer_start": ctx.find(a)} for a in answers]}]}]}
      for iid, ctx, q, answers in items]}


def tydiqa(root: pathlib.Path) -> None:
  d = root / "tydiqa"
  d.mkdir(parents=True, exist_ok=True)
  dev, train = [], []
  for lang, name in [*names.TYDIQA_LANGUAGES.items(), ("en", "english")]:
    for i in range(2 if lang != "en" else 1):
      dev.append((f"{name}-dev-{i}", f"The {lang} river number {i} is called The Blue Way.",
                  f"What is {lang} river {i} called?", ["The Blue Way", "Blue Way"]))
    train.append((f"{name}-train-0", f"The {lang} town has 300 people.", f"How many people live in the {lang} town?",
                  ["300"]))
  (d / "tydiqa-goldp-v1.1-dev.json").write_text(json.dumps(_squad(dev), indent=1), encoding="utf-8")
  (d / "tydiqa-goldp-v1.1-train.json").write_text(json.dumps(_squad(train), indent=1), encoding="utf-8")


if __name__ == "__main__":
  for target in sys.argv[1:]:
    root = pathlib.Path(target)
    for write in (mmlu, bbh, mgsm, tydiqa):
      write(root)
