"""TyDiQA-GoldP: extractive QA in 8 languages (English left out), one-shot with an exemplar in the same language.

File: tydiqa/tydiqa-goldp-v1.1-dev.json, SQuAD 1.1 format, question ids prefixed with the language's English name
("arabic-..."). The exemplar is the language's first question in tydiqa-goldp-v1.1-train.json when that file is
present; otherwise the language's first dev question serves as exemplar and is not scored.
"""

from flanx.evaluation import answers
from flanx.evaluation.example import EvalExample
from tasks.evals import files, names, prompts

DEV, TRAIN = "tydiqa-goldp-v1.1-dev.json", "tydiqa-goldp-v1.1-train.json"
FORMAT = prompts.PromptFormat(question_prefix="Passage: ", answer_prefix="Answer:")
_LANGUAGE_OF = {name: code for code, name in names.TYDIQA_LANGUAGES.items()}


def _query(context: str, question: str) -> str:
  return f"{context}\nQuestion: {question}"


def read_squad(p) -> dict[str, list[dict]]:
  """{language code: [{id, context, question, answers}]} for the 8 languages, in file order."""
  data = files.read_json(p)
  if not isinstance(data, dict) or not isinstance(data.get("data"), list):
    raise files.malformed(p, "1", "not SQuAD 1.1 JSON (no 'data' list)")
  by_lang: dict[str, list[dict]] = {code: [] for code in names.TYDIQA_LANGUAGES}
  for a, article in enumerate(data["data"]):
    for g, paragraph in enumerate(article.get("paragraphs", [])):
      for q, qa in enumerate(paragraph.get("qas", [])):
        where = f"data[{a}].paragraphs[{g}].qas[{q}]"
        try:
          item = {"id": qa["id"], "context": paragraph["context"], "question": qa["question"],
                  "answers": [ans["text"] for ans in qa["answers"]]}
        except (KeyError, TypeError) as e:
          raise files.malformed(p, where, f"missing {e}") from None
        if not item["answers"]:
          raise files.malformed(p, where, "no answers")
        lang_name = item["id"].split("-", 1)[0]
        if lang_name in _LANGUAGE_OF:
          by_lang[_LANGUAGE_OF[lang_name]].append(item)
        elif lang_name not in names.TYDIQA_EXCLUDED:
          raise files.malformed(p, where, f"id {item['id']!r} does not start with a TyDiQA language name")
  return by_lang


def load(split: str, cot: bool = False, zero_shot: bool = False) -> list[EvalExample]:
  del split, cot, zero_shot  # the dev set is the evaluation set; one-shot direct prompting only
  dev_path = files.path("tydiqa", DEV, what="TyDiQA-GoldP dev set")
  dev = read_squad(dev_path)
  train_path = dev_path.with_name(TRAIN)
  train = read_squad(train_path) if train_path.exists() else None
  examples = []
  for lang, items in dev.items():
    pool = train[lang] if train else items
    if not pool:
      raise files.malformed(train_path if train else dev_path, lang, f"no {lang} question to use as the exemplar")
    shot_item = pool[0]
    shot = prompts.Shot(_query(shot_item["context"], shot_item["question"]), " " + shot_item["answers"][0])
    for item in items if train else items[1:]:
      examples.append(EvalExample(
          **FORMAT.prompt("", [shot], _query(item["context"], item["question"])).fields(),
          targets=item["answers"][0], gold=tuple(item["answers"]), group=lang, id=item["id"],
          rule=answers.Rule(answers.SPAN, stop=FORMAT.stop)))
  return examples
