"""MGSM: 250 grade-school maths problems in 11 languages, 8-shot chain-of-thought in the target language.

Files: mgsm/mgsm_<lang>.tsv (question<TAB>answer, no header), mgsm/exemplars.json ({lang: [{q, a}] x 8}) and
mgsm/prompt_phrases.json (per language: question/answer prefixes and the "The answer is" phrase variants).
"""

from flanx.evaluation import answers
from tasks.evals import files, names, prompts
from tasks.evals.example import EvalExample


def _language_prompt(lang: str) -> tuple[prompts.PromptFormat, list[prompts.Shot], tuple[str, ...]]:
  pp = files.path("mgsm", "prompt_phrases.json", what="MGSM prompt phrases")
  ep = files.path("mgsm", "exemplars.json", what="MGSM exemplars")
  phrases, exemplars = files.read_json(pp).get("languages", {}).get(lang), files.read_json(ep).get(lang)
  if not phrases:
    raise files.malformed(pp, lang, f"no entry for language {lang!r}")
  if not exemplars:
    raise files.malformed(ep, lang, f"no exemplars for language {lang!r}")
  fmt = prompts.PromptFormat(question_prefix=phrases["question_prefix"], answer_prefix=phrases["answer_prefix"])
  shots = []
  for i, ex in enumerate(exemplars):
    if not (ex.get("q", "").startswith(fmt.question_prefix) and ex.get("a", "").startswith(fmt.answer_prefix)):
      raise files.malformed(ep, f"{lang} exemplar {i + 1}", "does not start with the language's prefixes")
    shots.append(prompts.Shot(ex["q"][len(fmt.question_prefix):], ex["a"][len(fmt.answer_prefix):]))
  variants = tuple(phrases.get("answer_is_variants", {})) or (phrases["answer_is"],)
  return fmt, shots, variants


def load(split: str, cot: bool = True) -> list[EvalExample]:
  del split, cot  # one split; MGSM is always chain-of-thought
  examples = []
  for lang in names.MGSM_LANGUAGES:
    fmt, shots, phrases = _language_prompt(lang)
    p = files.path("mgsm", f"mgsm_{lang}.tsv", what=f"MGSM {lang} problems")
    for i, (line, (q, a)) in enumerate(files.read_rows(p, fields=2, delimiter="\t")):
      gold = answers.normalize_number(a)
      if not gold or gold != answers.normalize_number(a.strip().rstrip(".")):
        raise files.malformed(p, str(line), f"answer {a!r} is not a number")
      examples.append(EvalExample(
          inputs=fmt.build("", shots, q), targets=a, gold=(a,), group=lang, id=f"{lang}/{i}",
          answer_format=answers.NUMBER, phrases=phrases, stop=fmt.stop))
  return examples
