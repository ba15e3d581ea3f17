"""From a dataset's own record (TFDS features or release-file fields) to a task type's template fields.

A converter returns the fields, or None for a record the task cannot use (no answer, a label outside the
options); it reads every field it needs before deciding, so a wrong feature name fails on the first record.
Fields never carry a label of their own ("Question: ..."): the templates supply those.
"""

import re
from collections.abc import Callable, Sequence

from tasks.flan.readers import Record, text

Convert = Callable[[dict], Record | None]

YES_MAYBE_NO = ("yes", "it is not possible to tell", "no")
NO_YES = ("no", "yes")
LANGUAGES = {"de": "German", "cs": "Czech", "fi": "Finnish", "ro": "Romanian", "ru": "Russian", "tr": "Turkish",
             "fr": "French", "es": "Spanish", "en": "English"}


def _pick(options: Sequence[str], label) -> str | None:
  i = int(label)
  return options[i] if 0 <= i < len(options) else None


def _with_options(fields: dict, options: Sequence[str], label) -> Record | None:
  """The fields plus options and answer; None when the label does not name one of the options."""
  options = list(options)
  answer = _pick(options, label)
  if answer is None or len(set(options)) != len(options):  # an answer among duplicates cannot be shown as a label
    return None
  return {**fields, "options": options, "answer": answer}


def numbered(items: Sequence) -> str:
  return "\n".join(f"{i + 1}. {text(item)}" for i, item in enumerate(items))


def turns(history: Sequence[str]) -> str:
  return "\n".join(f"{'A' if i % 2 == 0 else 'B'}: {t}" for i, t in enumerate(history))


# --- classification over fixed labels -----------------------------------------------------------------------

def nli(premise: str, hypothesis: str, labels: Sequence[str]) -> Convert:
  return lambda raw: _with_options({"premise": text(raw[premise]), "hypothesis": text(raw[hypothesis])}, labels,
                                   raw["label"])


def pair(first: str, second: str, labels: Sequence[str] = NO_YES) -> Convert:
  return lambda raw: _with_options({"sentence1": text(raw[first]), "sentence2": text(raw[second])}, labels,
                                   raw["label"])


def single(field: str, labels: Sequence[str], label: str = "label", as_field: str = "text") -> Convert:
  """One text field classified into `labels` (sentiment, topic, acceptability)."""
  return lambda raw: _with_options({as_field: text(raw[field])}, labels, raw[label])


def sentiment140(raw: dict) -> Record | None:
  tweet, polarity = text(raw["text"]), int(raw["polarity"])
  # Polarity is 0 (negative), 2 (neutral) or 4 (positive); two classes, as in prior work on this set.
  label = {0: 0, 4: 1}.get(polarity)
  return None if label is None else _with_options({"text": tweet}, ("negative", "positive"), label)


def ag_news(raw: dict) -> Record | None:
  title, description = text(raw["title"]), text(raw["description"])
  return _with_options({"text": f"{title}\n{description}"}, ("World", "Sports", "Business", "Science/Tech"),
                       raw["label"])


TREC_CLASSES = ("description", "entity", "abbreviation", "human", "numeric", "location")


def stsb(raw: dict) -> Record | None:
  first, second, score = text(raw["sentence1"]), text(raw["sentence2"]), float(raw["label"])
  return _with_options({"sentence1": first, "sentence2": second}, tuple(str(i) for i in range(6)),
                       int(score + 0.5) if 0 <= score <= 5 else -1)


def wic(raw: dict) -> Record | None:
  word, first, second = text(raw["word"]), text(raw["sentence1"]), text(raw["sentence2"])
  return _with_options({"word": word, "sentence1": first, "sentence2": second}, NO_YES, raw["label"])


def wsc(raw: dict) -> Record | None:
  passage, candidate, pronoun = text(raw["text"]), text(raw["span1_text"]), text(raw["span2_text"])
  return _with_options({"premise": passage, "hypothesis": f'"{pronoun}" refers to {candidate}.'}, NO_YES, raw["label"])


def definite_pronoun_resolution(raw: dict) -> Record | None:
  sentence, pronoun, candidates = text(raw["sentence"]), text(raw["pronoun"]), [text(c) for c in raw["candidates"]]
  return _with_options({"sentence": sentence, "pronoun": pronoun}, candidates, raw["label"])


def multirc(raw: dict) -> Record | None:
  paragraph, question, answer = text(raw["paragraph"]), text(raw["question"]), text(raw["answer"])
  return _with_options({"context": paragraph, "question": question, "candidate": answer}, NO_YES, raw["label"])


def qnli(raw: dict) -> Record | None:
  question, sentence = text(raw["question"]), text(raw["sentence"])
  return _with_options({"question": question, "sentence": sentence}, ("yes", "no"), raw["label"])  # 0: entailment


# --- multiple choice ----------------------------------------------------------------------------------------

def choices(question: str | Callable[[dict], str], options: Callable[[dict], list],
            label: Callable[[dict], object]) -> Convert:
  """Multiple choice with the options in the dataset's own layout."""
  def convert(raw: dict) -> Record | None:
    q = question(raw) if callable(question) else text(raw[question])
    return _with_options({"question": q}, [text(o) for o in options(raw)], label(raw))
  return convert


def arc(raw: dict) -> Record | None:
  question, key = text(raw["question"]), raw["answerKey"]
  labels, texts = list(raw["choices"]["label"]), raw["choices"]["text"]
  return _with_options({"question": question}, [text(t) for t in texts], labels.index(key) if key in labels else -1)


def openbookqa(raw: dict) -> Record | None:
  q = raw["question"]
  stem, options = text(q["stem"]), [text(q[f"choice_{c}"]) for c in "ABCD"]
  return _with_options({"question": stem}, options, raw["answerKey"])


_OPTION_MARK = re.compile(r"\(([A-H])\)\s*")


def unified_qa_science(raw: dict) -> Record | None:
  """UnifiedQA's ai2_science_middle: 'question \\n (A) ... (B) ...' with the answer's text as output."""
  source, answer = text(raw["input"]).replace("\\n", "\n"), text(raw["output"]).strip()
  parts = _OPTION_MARK.split(source)
  question, options = parts[0].strip(), [p.strip() for p in parts[2::2]]
  if len(options) < 2 or answer not in options:
    return None
  return _with_options({"question": question}, options, options.index(answer))


def winogrande(raw: dict) -> Record | None:
  sentence, options = text(raw["sentence"]), [text(raw["option1"]), text(raw["option2"])]
  return _with_options({"text": sentence}, options, raw["label"])


def copa(raw: dict) -> Record | None:
  premise, relation, options = text(raw["premise"]), text(raw["question"]), [text(raw["choice1"]), text(raw["choice2"])]
  link = "What caused this?" if relation == "cause" else "What happened as a result?"
  return _with_options({"context": f"{premise} {link}"}, options, raw["label"])


def hellaswag(raw: dict) -> Record | None:
  context, endings = text(raw["context"]), [text(e) for e in raw["endings"]]
  return _with_options({"context": context}, endings, raw["label"])


def story_cloze(raw: dict) -> Record | None:
  context, endings = text(raw["context"]), [text(e) for e in raw["endings"]]
  return _with_options({"context": context}, endings, int(raw["label"]) - 1)  # the right ending is 1 or 2


def record(raw: dict) -> Record | None:
  """ReCoRD: a news passage, a query with one entity blanked out, the passage's entities as options."""
  passage, query = text(raw["passage"]), text(raw["query"])
  entities, answers = [text(e) for e in raw["entities"]], [text(a) for a in raw["answers"]]
  passage = passage.split("\n@highlight", 1)[0]
  options = list(dict.fromkeys(entities))
  if not answers or answers[0] not in options:
    return None
  return _with_options({"text": f"{passage}\n\n{query.replace('@placeholder', '___')}"}, options,
                       options.index(answers[0]))


# --- reading comprehension and question answering --------------------------------------------------------------

def squad(raw: dict) -> Record | None:
  context, question, answers = text(raw["context"]), text(raw["question"]), [text(a) for a in raw["answers"]["text"]]
  return {"context": context, "question": question, "answer": answers[0]} if answers else None


def squad_v2(raw: dict) -> Record | None:
  context, question, answers = text(raw["context"]), text(raw["question"]), [text(a) for a in raw["answers"]["text"]]
  impossible = bool(raw["is_impossible"])
  if not impossible and not answers:
    return None
  return {"context": context, "question": question, "answer": "unanswerable" if impossible else answers[0]}


def drop(raw: dict) -> Record | None:
  passage, question, answer = text(raw["passage"]), text(raw["question"]), text(raw["answer"]).strip()
  return {"context": passage, "question": question, "answer": answer} if answer else None


def quac(raw: dict) -> Record | None:
  background, context, question = text(raw["background"]), text(raw["context"]), text(raw["question"])
  answer = text(raw["orig_answer"]["text"]).replace("CANNOTANSWER", "").strip()
  context = context.replace("CANNOTANSWER", "").strip()
  return {"context": f"{background}\n\n{context}".strip(), "question": question, "answer": answer} if answer else None


def coqa(raw: dict) -> Record | None:
  """CoQA: a story and its whole conversation of questions, answered together as a numbered list."""
  story, questions, answers = text(raw["story"]), list(raw["questions"]), list(raw["answers"]["input_text"])
  if not questions or len(questions) != len(answers):
    return None
  return {"context": story, "question": numbered(questions), "answer": numbered(answers)}


def closed_book(question: str, answer: Callable[[dict], object]) -> Convert:
  def convert(raw: dict) -> Record | None:
    q, a = text(raw[question]), text(answer(raw)).strip()
    return {"question": q, "answer": a} if a else None
  return convert


def first(values) -> object:
  return values[0] if len(values) else ""


def math_dataset(raw: dict) -> Record:
  return {"question": text(raw["question"]), "answer": text(raw["answer"])}


# --- generation -------------------------------------------------------------------------------------------

def summary(document: str, summary_field: str) -> Convert:
  def convert(raw: dict) -> Record | None:
    doc, gist = text(raw[document]).strip(), text(raw[summary_field]).strip()
    return {"text": doc, "answer": gist} if doc and gist else None
  return convert


def opinion_idebate(raw: dict) -> Record | None:
  claim, debate, sentences = text(raw["_claim"]), text(raw["_debate_name"]), list(raw["_argument_sentences"]["value"])
  del debate  # read so that a renamed feature fails; the claim summarises the argument, not the debate
  return {"text": numbered(sentences[:10]), "answer": claim} if sentences and claim else None


def opinion_rotten_tomatoes(raw: dict) -> Record | None:
  consensus, movie, reviews = text(raw["_critic_consensus"]), text(raw["_movie_name"]), list(raw["_critics"]["value"])
  del movie
  return {"text": numbered(reviews[:10]), "answer": consensus} if reviews and consensus else None


def translation(source: str, target: str = "en") -> Convert:
  return lambda raw: {"text": text(raw[source]), "answer": text(raw[target]), "source_lang": LANGUAGES[source],
                      "target_lang": LANGUAGES[target]}


def data_to_text(data: Callable[[dict], str], target: str = "target") -> Convert:
  def convert(raw: dict) -> Record | None:
    d, t = data(raw), text(raw[target]).strip()
    return {"data": d, "answer": t} if d and t else None
  return convert


def common_gen_data(raw: dict) -> str:
  return ", ".join(text(c) for c in raw["concepts"])


def dart_data(raw: dict) -> str:
  """Triples arrive as "subject | predicate | object"; DART marks table metadata with tags such as
  "[TABLECONTEXT] | [TITLE] | Film", which keep only their content here."""
  triples = ([p.strip() for p in re.sub(r"\[[A-Z_]+\]", "", text(t)).split("|")] for t in raw["tripleset"])
  return "; ".join(" | ".join(p for p in parts if p) for parts in triples)


def e2e_data(raw: dict) -> str:
  return re.sub(r"\[([^\]]*)\]", r" = \1", text(raw["meaning_representation"]))


def web_nlg_data(raw: dict) -> str:
  return "; ".join(text(t).replace("_", " ").replace(" | ", ", ") for t in raw["input"])


def lambada(raw: dict) -> Record | None:
  passage = text(raw["passage"]).strip()
  head, _, last = passage.rpartition(" ")
  return {"text": head, "answer": last} if head and last else None


def repair(problem: str, damage: Callable[[str], str]) -> Convert:
  """A text repair task made from clean English text: the input is the text with `damage` done to it."""
  def convert(raw: dict) -> Record | None:
    clean = text(raw["en"]).strip()
    damaged = damage(clean)
    return {"text": damaged, "problem": problem, "answer": clean} if damaged and damaged != clean else None
  return convert


def strip_punctuation(s: str) -> str:
  return re.sub(r"[^\w\s]", "", s)


def strip_spaces(s: str) -> str:
  return s.replace(" ", "")


# --- dialog and code ----------------------------------------------------------------------------------------

def qrecc(raw: dict) -> Record | None:
  history, question, answer = [text(t) for t in raw["Context"]], text(raw["Question"]), text(raw["Answer"])
  return {"context": turns(history + [question]), "answer": answer} if answer else None


def wiki_dialog(raw: dict) -> Record | None:
  utterances = [text(u) for u in raw["utterances"]]
  return {"context": turns(utterances[:-1]), "answer": utterances[-1]} if len(utterances) > 1 else None


def taskmaster(raw: dict) -> Record | None:
  utterances = [text(u["text"]) for u in raw["utterances"]]
  return {"context": turns(utterances[:-1]), "answer": utterances[-1]} if len(utterances) > 1 else None


def mbpp(raw: dict) -> Record:
  return {"question": text(raw["text"]), "answer": text(raw["code"])}


PYTHON_LANGUAGES = (1, 3)  # CodeContests' language enum: 1 Python 2, 3 Python 3


def code_contests_python(raw: dict) -> Record | None:
  """DeepMind CodeContests: the problem statement and its first correct Python solution."""
  description, solutions = text(raw["description"]), raw["solutions"]
  code = next((text(s) for lang, s in zip(solutions["language"], solutions["solution"]) if lang in PYTHON_LANGUAGES),
              None)
  return {"question": description, "answer": code} if code and description else None
