"""The per-language number rule (flanx/evaluation/numbers.py) on all 11 MGSM languages, and on the released
MGSM files: gold answers, exemplar answers, and every number the translators wrote in the questions."""

import json
from decimal import Decimal

import pytest

from flanx.evaluation import answers, numbers
from tasks.evals import mgsm, names

SPACE, NBSP, NNBSP = " ", "\u00a0", "\u202f"
# How each language writes seventy thousand and two and a half (MGSM's translations write them this way).
NOTATION = {
    "bn": ("70,000", "2.5"), "en": ("70,000", "2.5"), "ja": ("70,000", "2.5"), "sw": ("70,000", "2.5"),
    "te": ("70,000", "2.5"), "th": ("70,000", "2.5"), "zh": ("70,000", "2.5"),
    "de": ("70.000", "2,5"), "es": ("70 000", "2,5"), "fr": ("70 000", "2,5"), "ru": ("70 000", "2,5"),
}


def test_every_mgsm_language_has_a_format():
  assert set(numbers.FORMATS) == set(names.MGSM_LANGUAGES) == set(NOTATION)


@pytest.mark.parametrize("lang", names.MGSM_LANGUAGES)
def test_language_notation(lang):
  thousands, decimal = NOTATION[lang]
  assert numbers.read(f"… {thousands}.", lang) == "70000"
  assert numbers.read(f"… {decimal}.", lang) == "2.5"
  assert numbers.read("2.5", lang) == "2.5"                 # an English-style decimal is a decimal everywhere
  assert numbers.read("১২৫ / ௧௨ / ７０", lang) == "125"       # digits of any script
  assert numbers.read("no digits here", lang) == ""
  for value in ("7", "-4", "2125", "70000", "1234567.25", "0.5"):
    assert numbers.read(numbers.write(value, lang), lang) == value


@pytest.mark.parametrize("lang", ["fr", "ru", "es", "de"])
@pytest.mark.parametrize("space", [SPACE, NBSP, NNBSP])
def test_space_grouped_thousands(lang, space):
  assert numbers.read(f"70{space}000", lang) == "70000"
  assert numbers.read(f"1{space}234{space}567,5", lang) == "1234567.5"


@pytest.mark.parametrize("text, lang, expected", [
    ("Die Antwort lautet 70.000.", "de", "70000"),
    ("Die Antwort lautet 2,125.", "de", "2.125"),      # German decimal comma
    ("Die Antwort lautet 1.234,5 Euro", "de", "1234.5"),
    ("The answer is 2,125.", "en", "2125"),
    ("The answer is 2,5", "en", "2"),                   # English ',' before other than three digits: a list
    ("The answer is 1,2345", "en", "1"),
    ("The answer is 70.000", "en", "70"),               # English '.' is a decimal point: 70.000 = 70
    ("La réponse est 70.000", "fr", "70"),              # French groups with spaces, so '.' is a decimal point
    ("La réponse est 3,50 €", "fr", "3.5"),
    ("উত্তর হল 1,00,000।", "bn", "100000"),            # Indian grouping
    ("సమాధానం 12,34,567.", "te", "1234567"),
    ("答案是 80,000。", "zh", "80000"),
    ("答案是 80，000。", "zh", "80"),                    # a full-width comma separates clauses, not digits
    ("The answer is 7.0", "en", "7"), ("The answer is 007", "en", "7"), ("The answer is -0", "en", "0"),
    ("The answer is −12", "en", "-12"),                 # U+2212 minus
])
def test_examples(text, lang, expected):
  assert numbers.read(text, lang) == expected


def test_unknown_language_is_an_error():
  with pytest.raises(ValueError, match="no number format for language 'pt'"):
    numbers.read("1", "pt")


# --- the released MGSM files ------------------------------------------------------------------------------------

def _tsv(root, lang):
  return [line.rstrip("\n").split("\t") for line in (root / "mgsm" / f"mgsm_{lang}.tsv").open(encoding="utf-8")]


def test_real_gold_answers(shared_data, use_data):
  use_data(shared_data)
  english = [numbers.read(a, mgsm.ANSWER_NOTATION) for _, a in _tsv(shared_data, "en")]
  assert len(english) == 250 and all(a and "." not in a for a in english)  # 250 integers
  assert {"2125", "114200", "276000", "5600"} <= set(english)            # the four written "2,125" etc.
  loaded = [e for e in mgsm.load("validation")]
  for lang in names.MGSM_LANGUAGES:
    golds = [e.gold[0] for e in loaded if e.group == lang]
    assert golds == english, lang
    assert all(answers.extract(e.targets, e.rule) == e.gold[0] for e in loaded if e.group == lang), lang


def test_real_exemplar_answers(shared_data):
  exemplars = json.loads((shared_data / "mgsm" / "exemplars.json").read_text(encoding="utf-8"))
  phrases = json.loads((shared_data / "mgsm" / "prompt_phrases.json").read_text(encoding="utf-8"))
  expected = [str(n) for n in phrases["EXEMPLAR_NUMBER_ANSWERS"]]
  for lang in names.MGSM_LANGUAGES:
    p = phrases["languages"][lang]
    rule = answers.Rule(answers.NUMBER, tuple(p["answer_is_variants"]), cot=True, locale=lang)
    got = [answers.extract(ex["a"].removeprefix(p["answer_prefix"]), rule) for ex in exemplars[lang]]
    assert got == expected, lang


def test_real_question_numbers_read_as_in_english(shared_data):
  """Every number of 1000 or more in an English question is read, with the same value, from each translation
  (Japanese '8万' myriads excepted): the separators per language are the ones the translators used."""
  def large(question, lang):
    return {n for n in numbers.all_numbers(question, lang) if Decimal(n) >= 1000}
  english = [large(q, "en") for q, _ in _tsv(shared_data, "en")]
  assert sum(map(len, english)) == 31
  for lang in names.MGSM_LANGUAGES:
    for i, (question, _) in enumerate(_tsv(shared_data, lang)):
      if "万" not in question:
        assert english[i] <= large(question, lang), (lang, i, question)
