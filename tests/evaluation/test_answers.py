"""Answer extraction on hand-made outputs shaped like real ones (Flan-T5, PaLM and Codex styles), rule by rule."""

import pytest

from flanx.evaluation import answers
from flanx.evaluation.answers import CHOICE, NUMBER, SPAN, TEXT, Rule, extract

EN = (answers.ENGLISH_PHRASE,)
MMLU_OPTIONS = (("A", "A tree"), ("B", "Paris"), ("C", "A river"), ("D", "None of the above"))


def cot_choice(options=MMLU_OPTIONS):
  return Rule(CHOICE, EN, cot=True, stop="\nQ:", options=options)


def direct_choice(options=MMLU_OPTIONS):
  return Rule(CHOICE, EN, cot=False, stop="\nQ:", options=options)


@pytest.mark.parametrize("output, expected", [
    # The exemplars' form, and the BBH authors' reading of it.
    ("Paris is the capital of France, so (B) is right. The answer is (B).", "(B)"),
    ("Let's think step by step.\nThe first one is false. So the answer is (C).\n", "(C)"),
    ("The answer is not (A). Checking again, the answer is (C).", "(C)"),  # the last phrase wins
    ("So the answer is (A).\nQ: What next?\nA: ... So the answer is (D).", "(A)"),  # cut at a new exemplar
    ("THE ANSWER IS (D).", "(D)"),  # the phrase is matched without case
    # No phrase: no answer, whatever the output mentions (an echoed question lists every option).
    ("What is the capital of France?\n(A) A tree (B) Paris (C) A river (D) None of the above", ""),
    ("(B)", ""),
    ("Let's think step by step. The first object is", ""),  # truncated before any answer
    # Anything but exactly "(X)" after the phrase is no answer: hedges, letters, option texts, more words.
    ("So the answer is (A) or (B).", ""),
    ("So the answer is (A), (B).", ""),
    ("So the answer is B.", ""),
    ("So the answer is Paris.", ""),
    ("So the answer is (B) Paris.", ""),
    ("So the answer is (B). Wait, that is wrong.", ""),
    ("So the answer is (b).", ""),
    ("So the answer is", ""),
    ("", ""),
    (None, ""),
])
def test_cot_choice_is_strict(output, expected):
  assert extract(output, cot_choice()) == expected


@pytest.mark.parametrize("output, expected", [
    ("(B)", "(B)"), (" (B)\n", "(B)"), ("B", "(B)"), ("B.", "(B)"), ("B)", "(B)"),
    ("Answer: B", "(B)"), ("answer: (B)", "(B)"), ("Answer：B", "(B)"),
    ("The answer is (B).", "(B)"),
    ("Paris", "(B)"), ("paris.", "(B)"),           # the option's own text
    ("A tree", "(A)"), ("A river", "(C)"),        # option texts that begin with "A " are not the letter A
    ("(B) Paris", "(B)"),                          # letter and its own text agree
    ("(B) A river", ""),                           # letter and text name different options
    ("(E)", ""),                                   # no such option
    ("A tree or a river", ""),
    ("b", ""),                                     # a lower-case letter is a word, not an option
    ("(B)\n\nQ: Which city ...", "(B)"),         # a model that runs on into the next exemplar
    ("Paris is in France", ""),
    ("", ""),
])
def test_direct_choice_maps_every_form_to_the_right_letter(output, expected):
  assert extract(output, direct_choice()) == expected


def test_direct_choice_never_guesses_between_a_letter_and_an_option_text():
  # Option C's text is "B": "B" could mean option B or option C, so it names neither.
  options = (("A", "4"), ("B", "5"), ("C", "B"), ("D", "6"))
  assert extract("B", direct_choice(options)) == ""
  assert extract("(B)", direct_choice(options)) == "(B)"  # in brackets it can only be the letter
  assert extract("5", direct_choice(options)) == "(B)"
  # Two options with the same text: the text names neither.
  assert extract("yes", direct_choice((("A", "yes"), ("B", "Yes")))) == ""


@pytest.mark.parametrize("output, rule, expected", [
    # BBH labels and free-form answers: the text after the phrase, final period stripped, compared exactly.
    ("Let's think step by step.\nTrue and False is False. So the answer is False.", Rule(TEXT, EN, cot=True), "False"),
    ("So the answer is } ] >.", Rule(TEXT, EN, cot=True), "} ] >"),
    ("So the answer is arson aspect census.\n\nQ: Sort the words", Rule(TEXT, EN, cot=True, stop="\nQ:"),
     "arson aspect census"),
    ("So the answer is valid or invalid.", Rule(TEXT, EN, cot=True), "valid or invalid"),  # not "valid"
    ("The argument is valid.", Rule(TEXT, EN, cot=True), ""),       # no phrase in a chain of thought
    ("valid", Rule(TEXT, EN), "valid"),                              # direct: the whole output
    ("False.\n", Rule(TEXT, EN), "False"),
    ("False\nTrue", Rule(TEXT, EN), "False\nTrue"),                  # the whole output, not its first line
    ("  \n", Rule(TEXT, EN), ""),
])
def test_text(output, rule, expected):
  assert extract(output, rule) == expected


@pytest.mark.parametrize("output, expected", [
    (" The Blue Way", "The Blue Way"),
    (" the Blue\nWay", "the Blue\nWay"),            # the whole answer, as the SQuAD script would see it
    (" The Blue Way\nPassage: next", "The Blue Way"),  # a run-on new exemplar is cut
    ("", ""),
])
def test_span_is_the_whole_answer(output, expected):
  assert extract(output, Rule(SPAN, stop="\nPassage:")) == expected


@pytest.mark.parametrize("output, phrases, locale, expected", [
    ("5 + 6 = 11. The answer is 11.", ("The answer is",), "en", "11"),
    ("He earns $2,125 in total. The answer is 2,125.", ("The answer is",), "en", "2125"),
    ("1.000 + 250 = 1.250. Die Antwort ist 1250 Euro.", ("Die Antwort ist", "Die Antwort lautet"), "de", "1250"),
    ("Die Antwort lautet 70.000.", ("Die Antwort lautet",), "de", "70000"),
    ("Die Antwort lautet 2,5.", ("Die Antwort lautet",), "de", "2.5"),
    ("La réponse est 70 000.", ("La réponse est",), "fr", "70000"),
    ("5+6=11。答えは11です。", ("答えは",), "ja", "11"),
    ("罗杰一开始有 5 个球。5 + 6 = 11。答案是 11。", ("答案是",), "zh", "11"),
    ("В начале было 5 мячей. Ответ — 11.", ("Ответ —",), "ru", "11"),
    ("5+2=7 బొమ్మలు. సమాధానం 9.బొమ్మలున్నాయి.", ("సమాధానం",), "te", "9"),
    ("3 + 4 = 7 and then 7 * 2 = 14", ("The answer is",), "en", ""),  # no phrase: no answer in a chain of thought
    ("The answer is 3.50.", ("The answer is",), "en", "3.5"),
    ("The answer is -4", ("The answer is",), "en", "-4"),
    ("The answer is 11, 12 or 13", ("The answer is",), "en", "11"),   # a list, not a thousands separator
    ("The answer is", ("The answer is",), "en", ""),                 # truncated right after the phrase
    ("", ("The answer is",), "en", ""),
    ("La respuesta es 18. La respuesta es 20.", ("La respuesta es",), "es", "20"),
])
def test_number_in_a_chain_of_thought(output, phrases, locale, expected):
  assert extract(output, Rule(NUMBER, phrases, cot=True, locale=locale)) == expected


def test_direct_number_without_a_phrase_takes_the_last_number():
  assert extract("3 + 4 = 7 and then 7 * 2 = 14", Rule(NUMBER, ("The answer is",))) == "14"


def test_rule_round_trips_through_json_and_rejects_unknowns():
  import dataclasses
  import json
  rule = cot_choice()
  assert Rule.from_json(json.loads(json.dumps(dataclasses.asdict(rule)))) == rule
  with pytest.raises(ValueError, match="unknown answer format 'essay'"):
    Rule("essay")
  with pytest.raises(ValueError, match="no number format for language 'xx'"):
    Rule(NUMBER, locale="xx")


def test_an_option_text_with_its_own_final_period_still_names_it():
  options = (("A", "to be palpable intraorally.."), ("B", "to be palpable extraorally."))
  assert extract("to be palpable intraorally..", direct_choice(options)) == "(A)"
  assert extract("to be palpable extraorally", direct_choice(options)) == "(B)"


def test_real_option_texts_read_as_their_own_letter(shared_data, use_data):
  """A direct model that answers with an option's text: every MMLU (val and test) and BBH option text reads as
  its own letter, never as a wrong one. No answer only where the text could name another option too (two
  options with one text, or an option whose text is a letter, such as "B")."""
  from tasks.evals import names, registry
  use_data(shared_data)
  right, ambiguous, starts_with_a = 0, 0, 0
  for setting, split in (("mmlu_direct", names.VALIDATION), ("mmlu_direct", names.TEST),
                         ("bbh_direct", names.VALIDATION)):
    for example in registry.examples(names.SETTINGS_BY_NAME[setting], split):
      texts = [" ".join(t.casefold().rstrip(".").split()) for _, t in example.rule.options]
      for (letter, text), folded in zip(example.rule.options, texts):
        got = extract(text, example.rule)
        if got == "":
          assert texts.count(folded) > 1 or len(text.strip(" ().")) == 1, (example.id, text)
          ambiguous += 1
        else:
          assert got == f"({letter})", (example.id, text, got)
          right += 1
          starts_with_a += text.startswith("A ")
  assert right > 80_000 and ambiguous < 100 and starts_with_a > 1000
