"""Pulling the final answer out of a model's output, as the benchmark authors score it.

Every example carries a `Rule` (in its meta) saying how its outputs are read. In order:
  1. Cut the output where it starts a new exemplar (e.g. "\\nQ:"): a model that does not stop at EOS goes on to
     invent the next question and answer it, and that answer must not count.
  2. If an answer phrase ("answer is", "Die Antwort lautet", "答案是", ...) occurs, keep the text after its LAST
     occurrence: chains of thought mention candidates and revise themselves, and the conclusion comes last.
     Chain of thought (`cot`): no phrase, no answer (as the BBH authors and the CoT papers score). Direct: the
     whole (cut) output is the answer.
  3. Read the kept text by format (docs/evaluation.md, "Answer extraction"):
     - choice: chain of thought: exactly "(X)", final period stripped, as the exemplars state it; a hedge such as
       "(A) or (B)" is no answer. Direct: "(B)", "B", "Answer: B", "(B) <text of B>" or the text of option B all
       read "(B)"; anything that could name two different options reads as no answer, never a wrong one.
     - text: the kept text, trimmed, one final period stripped, compared exactly (BBH labels and free forms).
     - number: the first number after the phrase in the language's notation (numbers.py); direct outputs
       without a phrase give their last number.
     - span: the whole kept text, trimmed (TyDiQA; the SQuAD v1.1 script normalises it when scoring).
Nothing found gives "" (scored wrong), never an exception.
"""

import dataclasses
import re
from collections.abc import Sequence

from flanx.evaluation import numbers

CHOICE, TEXT, NUMBER, SPAN = "choice", "text", "number", "span"
FORMATS = (CHOICE, TEXT, NUMBER, SPAN)
ENGLISH_PHRASE = "answer is"

_STATED_CHOICE = re.compile(r"\(([A-Z])\)")
_LETTER = re.compile(r"\(?([A-Z])\)?")
_LETTER_AND_TEXT = re.compile(r"\(([A-Z])\)\s*(.+)", re.S)
_ANSWER_LABEL = re.compile(r"^answer\s*[:：]\s*", re.I)


@dataclasses.dataclass(frozen=True)
class Rule:
  """How one example's outputs are read (rules in the module docstring)."""
  format: str
  phrases: tuple[str, ...] = ()
  cot: bool = False             # chain of thought: an answer phrase is required, choices are stated "(X)"
  stop: str = ""                # an output is cut here first (the start of a next exemplar)
  options: tuple[tuple[str, str], ...] = ()  # choice: (letter, option text) pairs, as the prompt lists them
  locale: str = numbers.DEFAULT_LOCALE       # number: the language whose separators outputs use

  def __post_init__(self):
    if self.format not in FORMATS:
      raise ValueError(f"unknown answer format {self.format!r}; known: {', '.join(FORMATS)}")
    numbers.pattern(self.locale)  # an unknown language fails here, not at scoring time

  @classmethod
  def from_json(cls, d: dict) -> "Rule":
    """The inverse of dataclasses.asdict after a JSON round trip (lists back to tuples)."""
    return cls(**{**d, "phrases": tuple(d.get("phrases", ())),
                  "options": tuple((letter, text) for letter, text in d.get("options", ()))})


def cut(text: str, stop: str) -> str:
  return text[:text.index(stop)] if stop and stop in text else text


def after_last_phrase(text: str, phrases: Sequence[str]) -> tuple[str, bool]:
  """The text after the last occurrence of any phrase (case-insensitive), and whether one was found."""
  lowered, best, end = text.lower(), -1, 0
  for phrase in phrases:
    at = lowered.rfind(phrase.lower())
    if at > best:
      best, end = at, at + len(phrase)
  return (text[end:].lstrip(" :：—"), True) if best >= 0 else (text, False)  # not "-": a minus sign


def _stated(text: str) -> str:
  """Trimmed, one final period stripped: how the exemplars end their answers ("So the answer is (A).")."""
  text = text.strip()
  return text[:-1].rstrip() if text.endswith(".") else text


def _same_text(a: str, b: str) -> bool:
  return " ".join(_stated(a).casefold().split()) == " ".join(_stated(b).casefold().split())


def read_choice(text: str, options: Sequence[tuple[str, str]] = (), cot: bool = False) -> str:
  """'(B)' or '' (rules in the module docstring)."""
  if cot:
    stated = _stated(text)
    return stated if _STATED_CHOICE.fullmatch(stated) else ""
  text = _ANSWER_LABEL.sub("", text.strip(), count=1)
  letters = {letter for letter, _ in options}
  named = set()
  if m := _LETTER.fullmatch(_stated(text)):
    named.add(m[1])
  if (m := _LETTER_AND_TEXT.fullmatch(text)) and _same_text(dict(options).get(m[1], ""), m[2]):
    named.add(m[1])  # "(B) Paris" when B is Paris
  named |= {letter for letter, option in options if _same_text(option, text)}
  if letters:
    named &= letters  # "(E)" names no option of four
  return f"({named.pop()})" if len(named) == 1 else ""


def normalize(text: str, rule: Rule) -> str:
  """The kept text of an output (after step 2) in the form it is compared in."""
  if rule.format == CHOICE:
    return read_choice(text, rule.options, rule.cot)
  if rule.format == NUMBER:
    return numbers.read(text, rule.locale)
  if rule.format == TEXT:
    return _stated(text)
  return text.strip()  # SPAN


def extract(output: str | None, rule: Rule) -> str:
  """The normalised final answer of one model output (rules in the module docstring)."""
  text = cut(output or "", rule.stop)
  kept, found = after_last_phrase(text, rule.phrases)
  if not found and rule.cot:
    return ""
  if not found and rule.format == NUMBER:
    found_numbers = numbers.all_numbers(text, rule.locale)
    return found_numbers[-1] if found_numbers else ""
  return normalize(kept, rule)

