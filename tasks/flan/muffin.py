"""Muffin (Flan 2021 + dialog + program synthesis): TFDS datasets by name, and local release files.

Each entry maps the dataset's own feature names to a task type's fields. Sizes are the TFDS catalog's
train-split sizes (the dialog and code files: their release sizes), rounded; see docs/data.md.
"""

from collections.abc import Callable, Sequence

from tasks.flan import readers
from tasks.flan.readers import Record, Root, text
from tasks.flan.sources import Source

YES_MAYBE_NO = ("yes", "it is not possible to tell", "no")
LANGUAGES = {"de": "German", "cs": "Czech", "fi": "Finnish", "ro": "Romanian", "ru": "Russian", "tr": "Turkish",
             "fr": "French", "es": "Spanish", "en": "English"}


def _pick(options: Sequence[str], label) -> str | None:
  i = int(label)
  return options[i] if 0 <= i < len(options) else None


def nli(premise: str, hypothesis: str, labels: Sequence[str]) -> Callable[[dict], Record | None]:
  def convert(raw: dict) -> Record | None:
    answer = _pick(labels, raw["label"])
    return answer and {"premise": text(raw[premise]), "hypothesis": text(raw[hypothesis]), "options": list(labels),
                       "answer": answer}
  return convert


def pair(first: str, second: str, labels: Sequence[str] = ("no", "yes")) -> Callable[[dict], Record | None]:
  def convert(raw: dict) -> Record | None:
    answer = _pick(labels, raw["label"])
    return answer and {"sentence1": text(raw[first]), "sentence2": text(raw[second]), "options": list(labels),
                       "answer": answer}
  return convert


def sentiment(field: str, labels: Sequence[str] = ("negative", "positive")) -> Callable[[dict], Record | None]:
  def convert(raw: dict) -> Record | None:
    answer = _pick(labels, raw["label"])
    return answer and {"text": text(raw[field]), "options": list(labels), "answer": answer}
  return convert


def summary(document: str, summary_field: str) -> Callable[[dict], Record]:
  return lambda raw: {"text": text(raw[document]), "answer": text(raw[summary_field])}


def translation(source: str) -> Callable[[dict], Record]:
  return lambda raw: {"text": text(raw[source]), "answer": text(raw["en"]), "source_lang": LANGUAGES[source],
                      "target_lang": "English"}


def squad(raw: dict) -> Record | None:
  answers = raw["answers"]["text"]
  return {"context": text(raw["context"]), "question": text(raw["question"]), "answer": text(answers[0])} if len(answers) else None


def closed_book(question: str, answer: Callable[[dict], object]) -> Callable[[dict], Record]:
  return lambda raw: {"question": text(raw[question]), "answer": text(answer(raw))}


def choices(question: str, options: Callable[[dict], list], label: Callable[[dict], object]) -> Callable[[dict], Record | None]:
  """Multiple choice with the options in the dataset's own layout."""
  def convert(raw: dict) -> Record | None:
    opts = [text(o) for o in options(raw)]
    answer = _pick(opts, label(raw))
    return answer and {"question": text(question(raw) if callable(question) else raw[question]), "options": opts, "answer": answer}
  return convert


def arc(raw: dict) -> Record | None:
  labels = [text(l) for l in raw["choices"]["label"]]
  return choices("question", lambda r: r["choices"]["text"], lambda r: labels.index(text(r["answerKey"])))(raw)


def winogrande(raw: dict) -> Record | None:
  options = [text(raw["option1"]), text(raw["option2"])]
  answer = _pick(options, raw["label"])
  return answer and {"text": text(raw["sentence"]), "options": options, "answer": answer}


def copa(raw: dict) -> Record | None:
  link = "What caused this?" if text(raw["question"]) == "cause" else "What happened as a result?"
  options = [text(raw["choice1"]), text(raw["choice2"])]
  answer = _pick(options, raw["label"])
  return answer and {"context": f"{text(raw['premise'])} {link}", "options": options, "answer": answer}


def hellaswag(raw: dict) -> Record | None:
  options = [text(e) for e in raw["endings"]]
  answer = _pick(options, raw["label"])
  return answer and {"context": text(raw["context"]), "options": options, "answer": answer}


def turns(history: Sequence[str]) -> str:
  return "\n".join(f"{'A' if i % 2 == 0 else 'B'}: {t}" for i, t in enumerate(history))


def qrecc(raw: dict) -> Record | None:
  history = [text(t) for t in raw["Context"]] + [text(raw["Question"])]
  return {"context": turns(history), "answer": text(raw["Answer"])} if text(raw["Answer"]) else None


def wiki_dialog(raw: dict) -> Record | None:
  utterances = [text(u) for u in raw["utterances"]]
  return {"context": turns(utterances[:-1]), "answer": utterances[-1]} if len(utterances) > 1 else None


def taskmaster(raw: dict) -> Record | None:
  utterances = [text(u["text"]) for u in raw["utterances"]]
  return {"context": turns(utterances[:-1]), "answer": utterances[-1]} if len(utterances) > 1 else None


def mbpp(raw: dict) -> Record:
  return {"question": text(raw["text"]), "answer": text(raw["code"])}


# (dataset, TFDS name or release file, task type, convert, declared train size)
_TFDS = [
    ("anli_r1", "anli/r1", "nli", nli("context", "hypothesis", YES_MAYBE_NO), 16_946),
    ("anli_r2", "anli/r2", "nli", nli("context", "hypothesis", YES_MAYBE_NO), 45_460),
    ("anli_r3", "anli/r3", "nli", nli("context", "hypothesis", YES_MAYBE_NO), 100_459),
    ("snli", "snli", "nli", nli("premise", "hypothesis", YES_MAYBE_NO), 550_152),
    ("mnli", "multi_nli", "nli", nli("premise", "hypothesis", YES_MAYBE_NO), 392_702),
    ("rte", "super_glue/rte", "nli", nli("premise", "hypothesis", ("yes", "no")), 2_490),
    ("cb", "super_glue/cb", "nli", nli("premise", "hypothesis", ("yes", "no", "it is not possible to tell")), 250),
    ("squad_v1", "squad/v1.1", "extractive_qa", squad, 87_599),
    ("natural_questions", "natural_questions_open", "closed_book_qa", closed_book("question", lambda r: r["answer"][0]), 87_925),
    ("trivia_qa", "trivia_qa/rc.nocontext", "closed_book_qa", closed_book("question", lambda r: r["answer"]["value"]), 138_384),
    ("arc_challenge", "ai2_arc/ARC-Challenge", "mcqa", arc, 1_119),
    ("arc_easy", "ai2_arc/ARC-Easy", "mcqa", arc, 2_251),
    ("piqa", "piqa", "mcqa", choices("goal", lambda r: [r["sol1"], r["sol2"]], lambda r: r["label"]), 16_113),
    ("bool_q", "bool_q", "mcqa", choices(lambda r: f"{text(r['passage'])}\n\n{text(r['question'])}?",
                                         lambda r: ["no", "yes"], lambda r: int(r["answer"])), 9_427),
    ("cosmos_qa", "cosmos_qa", "mcqa", choices(lambda r: f"{text(r['context'])}\n\n{text(r['question'])}",
                                               lambda r: [r[f"answer{i}"] for i in range(4)], lambda r: r["label"]), 25_262),
    ("xsum", "xsum", "summarization", summary("document", "summary"), 204_045),
    ("cnn_dailymail", "cnn_dailymail", "summarization", summary("article", "highlights"), 287_113),
    ("gigaword", "gigaword", "summarization", summary("document", "summary"), 3_803_957),
    ("multi_news", "multi_news", "summarization", summary("document", "summary"), 44_972),
    ("samsum", "samsum", "summarization", summary("dialogue", "summary"), 14_732),
    ("aeslc", "aeslc", "summarization", summary("email_body", "subject_line"), 14_436),
    ("sst2", "glue/sst2", "sentiment", sentiment("sentence"), 67_349),
    ("imdb_reviews", "imdb_reviews", "sentiment", sentiment("text"), 25_000),
    ("yelp_polarity_reviews", "yelp_polarity_reviews", "sentiment", sentiment("text"), 560_000),
    ("glue_mrpc", "glue/mrpc", "paraphrase", pair("sentence1", "sentence2"), 3_668),
    ("glue_qqp", "glue/qqp", "paraphrase", pair("question1", "question2"), 363_846),
    ("paws_wiki", "paws_wiki", "paraphrase", pair("sentence1", "sentence2"), 49_401),
    ("winogrande", "winogrande", "coreference", winogrande, 40_398),
    ("copa", "super_glue/copa", "commonsense", copa, 400),
    ("hellaswag", "hellaswag", "commonsense", hellaswag, 39_905),
    ("wiki_dialog", "wiki_dialog/OR", "dialog", wiki_dialog, 11_264_129),
] + [
    (f"wmt16_translate_{lang}en", f"wmt16_translate/{lang}-en", "translation", translation(lang), size)
    for lang, size in (("de", 4_548_885), ("cs", 997_712), ("fi", 2_073_394), ("ro", 610_320), ("ru", 1_516_162),
                       ("tr", 205_756))
]

# Dialog and code sets that TFDS does not carry, read from their release files under the data directory.
_FILES = [
    ("qrecc", "qrecc/qrecc_train.json", "dialog", qrecc, 63_501),
    ("taskmaster", "taskmaster/self-dialogs.json", "dialog", taskmaster, 7_708),
    ("mbpp", "mbpp/mbpp.jsonl", "program_synthesis", mbpp, 974),
]

# The embedded collection: one dataset per task type, in the same feature names (JSON instead of TFDS records).
MINI = ("anli_r1", "piqa", "squad_v1", "natural_questions", "xsum", "wmt16_translate_deen", "sst2", "glue_mrpc",
        "winogrande", "copa", "qrecc", "mbpp")


def sources(root: Root = readers.data_root) -> list[Source]:
  tfds = [Source("muffin", d, t, readers.Tfds(root, name, convert), n) for d, name, t, convert, n in _TFDS]
  files = [Source("muffin", d, t, readers.JsonRecords(root, path, convert), n) for d, path, t, convert, n in _FILES]
  return tfds + files


MINI_SIZE = 4  # records per embedded file


def mini_sources(root: Root) -> list[Source]:
  by_name = {s.dataset: s for s in sources()}
  return [
      Source("muffin", d, by_name[d].task_type, readers.JsonRecords(root, f"muffin/{d}.jsonl", by_name[d].reader.convert), MINI_SIZE)
      for d in MINI
  ]

