"""MMLU (Hendrycks et al.): 57 subjects, 5-shot from the dev split, direct or chain-of-thought.

Files: mmlu/data/{dev,val,test}/<subject>_<split>.csv (no header: question, A, B, C, D, answer letter) and,
for CoT, Flan's mmlu-cot/mmlu-cot.json ({subject: released 5-shot CoT prompt}). Both variants share one
question layout, that of Flan's CoT prompts, so direct and CoT differ only in the exemplars' answers.
"""

from flanx.evaluation import answers
from tasks.evals import files, names, prompts
from flanx.evaluation.example import EvalExample

HEADER = "The following are multiple choice questions (with answers) about {subject}."
COT_FINAL = "The answer is {}."  # how Flan's CoT exemplars end; a CoT example's target is its final sentence
LETTERS = "ABCD"
_SPLIT_DIRS = {names.VALIDATION: "val", names.TEST: "test", "dev": "dev"}


def question(row: list[str]) -> str:
  q, *options, _ = row
  return q + "\n" + " ".join(f"({letter}) {text}" for letter, text in zip(LETTERS, options))


def _rows(subject: str, split: str) -> list[list[str]]:
  d = _SPLIT_DIRS[split]
  p = files.path("mmlu", "data", d, f"{subject}_{d}.csv", what=f"MMLU {subject} {d} split")
  rows = []
  for line, row in files.read_rows(p, fields=6):
    if row[5] not in LETTERS:
      raise files.malformed(p, str(line), f"answer {row[5]!r} is not one of A, B, C, D")
    rows.append(row)
  return rows


def _cot_prompts() -> dict:
  p = files.path("mmlu-cot", "mmlu-cot.json", what="Flan's MMLU chain-of-thought prompts")
  table = files.read_json(p)
  missing = [s for s in names.MMLU_SUBJECTS if s not in table]
  if not isinstance(table, dict) or missing:
    raise files.malformed(p, "1", f"no prompt for subject(s) {', '.join(missing[:3])}")
  return {s: (p, table[s]) for s in names.MMLU_SUBJECTS}


def load(split: str, cot: bool, zero_shot: bool = False) -> list[EvalExample]:
  """zero_shot: the header and the question only; the exemplars (read all the same) size the decode budget."""
  cot_prompts = _cot_prompts() if cot else {}
  examples = []
  for subject in names.MMLU_SUBJECTS:
    if cot:
      p, text = cot_prompts[subject]
      try:
        header, shots = prompts.parse_qa_prompt(text)
      except ValueError as e:
        raise files.malformed(p, subject, str(e)) from None
    else:
      header = HEADER.format(subject=subject.replace("_", " "))
      shots = [prompts.Shot(question(r), f" ({r[5]})") for r in _rows(subject, "dev")]
    for i, row in enumerate(_rows(subject, split)):
      rule = answers.Rule(answers.CHOICE, phrases=(answers.ENGLISH_PHRASE,), cot=cot, stop=prompts.QA.stop,
                          options=tuple(zip(LETTERS, row[1:5])))
      prompt = prompts.QA.prompt(header, shots, question(row), lead=prompts.COT_LEAD if cot else "",
                                 zero_shot=zero_shot)
      examples.append(EvalExample(
          **prompt.fields(), targets=COT_FINAL.format(f"({row[5]})") if cot else f"({row[5]})",
          gold=(f"({row[5]})",), group=subject,
          id=f"{subject}/{split}/{i}", rule=rule, chance=1 / len(LETTERS)))
  return examples
