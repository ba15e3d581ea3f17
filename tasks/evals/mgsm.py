"""MGSM: 250 grade-school maths problems in 11 languages, 8-shot chain-of-thought in the target language.

Files: mgsm/mgsm_<lang>.tsv (question<TAB>answer, no header), mgsm/exemplars.json ({lang: [{q, a}] x 8}) and
mgsm/prompt_phrases.json (per language: question/answer prefixes and the "The answer is" phrase variants).
"""

from flanx.evaluation import answers, numbers
from flanx.evaluation.example import EvalExample
from tasks.evals import files, names, prompts

# The answer column is written in English notation in every language's file ("2,125" in mgsm_fr.tsv too).
ANSWER_NOTATION = "en"


def _language_prompt(lang: str) -> tuple[prompts.PromptFormat, list[prompts.Shot], tuple[str, ...], str]:
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
  return fmt, shots, variants, phrases["answer_is"]


def load(split: str, cot: bool = True, zero_shot: bool = False) -> list[EvalExample]:
  del split, cot, zero_shot  # one split; MGSM is always 8-shot chain-of-thought
  examples = []
  for lang in names.MGSM_LANGUAGES:
    fmt, shots, phrases, final = _language_prompt(lang)
    p = files.path("mgsm", f"mgsm_{lang}.tsv", what=f"MGSM {lang} problems")
    rule = answers.Rule(answers.NUMBER, phrases=phrases, cot=True, stop=fmt.stop, locale=lang)
    for i, (line, (q, a)) in enumerate(files.read_rows(p, fields=2, delimiter="\t")):
      if not numbers.pattern(ANSWER_NOTATION).fullmatch(a.strip()):
        raise files.malformed(p, str(line), f"answer {a!r} is not a number")
      gold = numbers.read(a, ANSWER_NOTATION)
      examples.append(EvalExample(  # the target is the exemplars' final sentence, in the language's notation
          **fmt.prompt("", shots, q).fields(), targets=f"{final} {numbers.write(gold, lang)}.", gold=(gold,),
          group=lang,
          id=f"{lang}/{i}", rule=rule))
  return examples
