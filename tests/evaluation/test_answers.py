import pytest

from flanx.evaluation import answers
from flanx.evaluation.answers import CHOICE, NUMBER, SPAN, TEXT, extract, normalize_number

EN = ("answer is",)


@pytest.mark.parametrize("output, expected", [
    ("Let's think step by step. 2+2=4, so (C) fits. The answer is (B).", "(B)"),
    ("(D)", "(D)"),
    ("D", "(D)"),
    ("B. because it is", "(B)"),
    ("the answer is c", ""),              # lower-case letters are words, not options
    ("The answer is not (A). Checking again, the answer is (C).", "(C)"),  # last phrase wins
    ("So the answer is (A).\nQ: next question?\nA: ... So the answer is (D).", "(A)"),  # cut at new exemplar
    ("", ""),
    (None, ""),
    ("Let's think step by step. The first object is", ""),  # truncated before any answer
])
def test_choice(output, expected):
  assert extract(output, CHOICE, EN, stop="\nQ:") == expected


@pytest.mark.parametrize("output, phrases, expected", [
    ("5 + 6 = 11. The answer is 11.", ("The answer is",), "11"),
    ("He earns $2,125 in total. The answer is 2,125.", ("The answer is",), "2125"),
    ("1,000 + 250 = 1,250. Die Antwort ist 1250 Euro.", ("Die Antwort ist", "Die Antwort lautet"), "1250"),
    ("Die Antwort lautet 1.5", ("Die Antwort ist", "Die Antwort lautet"), "1.5"),  # '.' is a decimal point
    ("5+6=11。答えは11です。", ("答えは",), "11"),
    ("罗杰一开始有 5 个球。5 + 6 = 11。答案是 11。", ("答案是",), "11"),
    ("В начале было 5 мячей. Ответ — 11.", ("Ответ —",), "11"),
    ("5+2=7 బొమ్మలు. సమాధానం 9.బొమ్మలున్నాయి.", ("సమాధానం",), "9"),
    ("3 + 4 = 7 and then 7 * 2 = 14", ("The answer is",), "14"),      # no phrase: last number
    ("The answer is 3.50.", ("The answer is",), "3.5"),
    ("The answer is -4", ("The answer is",), "-4"),
    ("The answer is 11, 12 or 13", ("The answer is",), "11"),        # a list, not a thousands separator
    ("The answer is", ("The answer is",), ""),                      # truncated right after the phrase
    ("", ("The answer is",), ""),
    ("La respuesta es 18. La respuesta es 20.", ("La respuesta es",), "20"),
])
def test_number(output, phrases, expected):
  assert extract(output, NUMBER, phrases) == expected


@pytest.mark.parametrize("gold, expected", [("2,125", "2125"), ("114,200", "114200"), ("18.", "18"), ("70000", "70000"),
                                            ("7.0", "7"), ("", "")])
def test_normalize_number(gold, expected):
  assert normalize_number(gold) == expected


@pytest.mark.parametrize("output, expected", [
    ("Let's think step by step.\nTrue and False is False. So the answer is False.", "False"),
    ("valid", "valid"),
    ("So the answer is } ] >.", "} ] >"),
    ("So the answer is arson aspect census.\n\nQ: Sort the words", "arson aspect census"),
    ("  \n", ""),
])
def test_text(output, expected):
  assert extract(output, TEXT, EN, stop="\nQ:") == expected


def test_span_keeps_first_line_only():
  assert extract(" The Blue Way\nPassage: next", SPAN, stop="\nPassage:") == "The Blue Way"
  assert extract("", SPAN) == ""


def test_unknown_format_is_an_error():
  with pytest.raises(ValueError):
    answers.normalize("x", "essay")
