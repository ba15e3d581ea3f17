"""Pulling the final answer out of a model's output, and putting answers in a comparable form.

Rules, in order:
  1. Cut the output where it starts a new exemplar (e.g. "\\nQ:"): a model that does not stop at EOS goes on to
     invent the next question and answer it, and that answer must not count.
  2. If an answer phrase ("answer is", "Die Antwort lautet", "答案是", ...) occurs, keep the text after its
     LAST occurrence: chains of thought often say "the answer is not (A)" or revise themselves, and the
     conclusion comes last. Without a phrase the whole (cut) output is the answer, as direct prompting gives.
  3. Normalise by format: "choice" -> "(B)", "number" -> "2125", "text" -> trimmed first line without a final
     period, "span" -> trimmed first line. Nothing found gives "" (scored wrong), never an exception.
"""

import re

CHOICE, TEXT, NUMBER, SPAN = "choice", "text", "number", "span"
ENGLISH_PHRASE = "answer is"

_OPTION = re.compile(r"\(([A-Z])\)")
_BARE_LETTER = re.compile(r"^\s*([A-Z])(?:[).:,]|\s|$)")
# A number: optional sign, digits with optional thousands separators, optional decimals.
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def _after_last_phrase(text: str, phrases: tuple[str, ...] | list[str]) -> tuple[str, bool]:
  """The text after the last occurrence of any phrase (case-insensitive), and whether one was found."""
  lowered, best, end = text.lower(), -1, 0
  for phrase in phrases:
    at = lowered.rfind(phrase.lower())
    if at > best:
      best, end = at, at + len(phrase)
  return (text[end:], True) if best >= 0 else (text, False)


def normalize_number(text: str) -> str:
  """'2,125' -> '2125', '18.' -> '18', '3.50' -> '3.5', '$70,000' -> '70000'; '' when there is no number."""
  match = _NUMBER.search(text or "")
  if not match:
    return ""
  digits = match.group().replace(",", "")
  if "." in digits:
    digits = digits.rstrip("0").rstrip(".")
  return "0" if digits in ("-0", "") else digits


def normalize_choice(text: str) -> str:
  """'(B)', 'B', 'B.', '(b)'? -> '(B)': the first parenthesised capital letter, else a bare leading letter."""
  match = _OPTION.search(text) or _BARE_LETTER.match(text)
  return f"({match.group(1)})" if match else ""


def _first_line(text: str) -> str:
  lines = [line for line in text.strip().splitlines() if line.strip()]
  return lines[0].strip() if lines else ""


def normalize(text: str, answer_format: str) -> str:
  """An answer (extracted output or gold) in the form it is compared in."""
  text = text or ""
  if answer_format == CHOICE:
    return normalize_choice(text)
  if answer_format == NUMBER:
    return normalize_number(text)
  if answer_format == TEXT:
    return _first_line(text).removesuffix(".").strip()
  if answer_format == SPAN:
    return _first_line(text)
  raise ValueError(f"unknown answer format {answer_format!r}")


def extract(output: str | None, answer_format: str, phrases=(), stop: str = "") -> str:
  """The normalised final answer of one model output (rules in the module docstring)."""
  text = output or ""
  if stop and stop in text:
    text = text[:text.index(stop)]
  text, found = _after_last_phrase(text, phrases)
  if found:
    text = text.lstrip(" :：—")  # not "-": it may be a minus sign
  elif answer_format == NUMBER:
    # No phrase: chain-of-thought convention is that the last number stated is the answer.
    numbers = _NUMBER.findall(text)
    text = numbers[-1] if numbers else ""
  return normalize(text, answer_format)
