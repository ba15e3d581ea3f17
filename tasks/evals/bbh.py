"""BIG-Bench Hard: 27 subtasks, 3-shot with the exemplars released with BBH, chain-of-thought or direct.

Files: bbh/bbh/<task>.json ({"canary", "examples": [{"input", "target"}]}) and bbh/cot-prompts/<task>.txt
(canary line, "-----", task description, then "Q: ...\\nA: Let's think step by step. ... So the answer is X.").
The direct prompt keeps the same exemplars with each answer reduced to "X".
"""

import re

from flanx.evaluation import answers
from tasks.evals import files, names, prompts
from flanx.evaluation.example import EvalExample

_CANARY_END = "-----\n"
COT_FINAL = "So the answer is {}."  # how the released exemplars end; a CoT example's target is its final sentence
_FINAL = re.compile(r"So the answer is (.+?)\.?\s*$", re.S)
_OPTION_LINE = re.compile(r"^\(([A-Z])\)[ \t]*(.*)$", re.M)
_CHOICE_TARGET = re.compile(r"\([A-Z]\)")


def _prompt(task: str, cot: bool) -> tuple[str, list[prompts.Shot]]:
  p = files.path("bbh", "cot-prompts", f"{task}.txt", what=f"BBH {task} exemplars")
  text = files.read_text(p)
  body = text.split(_CANARY_END, 1)[1] if _CANARY_END in text else text
  try:
    header, shots = prompts.parse_qa_prompt(body)
  except ValueError as e:
    raise files.malformed(p, "1", str(e)) from None
  if cot:
    return header, shots
  direct = []
  for i, shot in enumerate(shots):
    final = _FINAL.search(shot.answer)
    if not final:
      raise files.malformed(p, f"exemplar {i + 1}", "its answer does not end 'So the answer is X.'")
    direct.append(prompts.Shot(shot.question, " " + final.group(1)))
  return header, direct


def chance(task: str, example_input: str) -> float:
  """Probability that a uniform guess is right (the per-subtask random baseline; see normalized.py)."""
  if task in names.BBH_LABEL_SETS:
    return 1 / len(names.BBH_LABEL_SETS[task])
  if task in names.BBH_FREE_FORM:
    return 0.0
  options = len(_OPTION_LINE.findall(example_input))
  return 1 / options if options else 0.0


def load_task(task: str) -> list[dict]:
  p = files.path("bbh", "bbh", f"{task}.json", what=f"BBH {task} examples")
  data = files.read_json(p)
  rows = data.get("examples") if isinstance(data, dict) else None
  if not isinstance(rows, list):
    raise files.malformed(p, "1", "no 'examples' list")
  for i, row in enumerate(rows):
    if not (isinstance(row, dict) and isinstance(row.get("input"), str) and isinstance(row.get("target"), str)):
      raise files.malformed(p, f"example {i}", "needs string 'input' and 'target'")
  return rows


def rule(target: str, example_input: str, cot: bool) -> answers.Rule:
  """How outputs are read: a "(X)" target is a choice among the "(X) text" lines of the input; any other target
  (a label, a number, a word list, three items whose released target is an option's text) is compared as text."""
  choice = bool(_CHOICE_TARGET.fullmatch(target))
  return answers.Rule(answers.CHOICE if choice else answers.TEXT, phrases=(answers.ENGLISH_PHRASE,), cot=cot,
                      stop=prompts.QA.stop, options=tuple(_OPTION_LINE.findall(example_input)) if choice else ())


def load(split: str, cot: bool, zero_shot: bool = False) -> list[EvalExample]:
  """zero_shot: the task description and the question only; the exemplars size the decode budget."""
  del split  # BBH has one split
  examples = []
  for task in names.BBH_TASKS:
    header, shots = _prompt(task, cot)
    for i, row in enumerate(load_task(task)):
      r = rule(row["target"], row["input"], cot)
      prompt = prompts.QA.prompt(header, shots, row["input"], lead=prompts.COT_LEAD if cot else "",
                                 zero_shot=zero_shot)
      examples.append(EvalExample(
          **prompt.fields(), targets=COT_FINAL.format(row["target"]) if cot else row["target"],
          gold=(answers.normalize(row["target"], r),), group=task, id=f"{task}/{i}", rule=r,
          chance=chance(task, row["input"])))
  return examples
