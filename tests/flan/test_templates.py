"""Templates, option styles and formats, on hand-made records (no seqio, no data)."""

import random

import pytest

from flanx.templates import ANSWER_PHRASE, FORMATS, OPTION_STYLES, TASK_TYPES, render, render_options, templates_for
from flanx.templates import formats, library, options

RECORDS = {
    "nli": {"premise": "P text", "hypothesis": "H text", "options": ["yes", "no"], "answer": "no"},
    "mcqa": {"question": "Q text", "options": ["red", "blue", "green"], "answer": "blue"},
    "extractive_qa": {"context": "C text", "question": "Q text", "answer": "span"},
    "closed_book_qa": {"question": "Q text", "answer": "Paris"},
    "summarization": {"text": "Long text", "answer": "Short"},
    "translation": {"text": "Hallo", "source_lang": "German", "target_lang": "English", "answer": "Hello"},
    "sentiment": {"text": "Great film", "options": ["negative", "positive"], "answer": "positive"},
    "paraphrase": {"sentence1": "S1", "sentence2": "S2", "options": ["no", "yes"], "answer": "yes"},
    "coreference": {"text": "The _ was big.", "options": ["box", "car"], "answer": "car"},
    "commonsense": {"context": "It rained.", "options": ["wet", "dry"], "answer": "wet"},
    "dialog": {"context": "A: hi", "answer": "hello"},
    "program_synthesis": {"question": "add two numbers", "answer": "def f(a, b): return a + b"},
    "cot": {"question": "1+1?", "rationale": "One and one make two.", "answer": "2"},
    "cot_inversion": {"question": "1+1?", "rationale": "One and one make two.", "answer": "2"},
    "dialog_inversion": {"context": "A: hi", "answer": "hello"},
    "niv2": {"definition": "Do X.", "input": "in", "answer": "out"},
    "text_classification": {"text": "Stocks rose.", "options": ["World", "Business"], "answer": "Business"},
    "acceptability": {"sentence": "Him went.", "options": ["unacceptable", "acceptable"], "answer": "unacceptable"},
    "data_to_text": {"data": "Paris | capital of | France", "answer": "Paris is the capital of France."},
    "pronoun_resolution": {"sentence": "Ann thanked Bo because she was kind.", "pronoun": "she",
                           "options": ["Ann", "Bo"], "answer": "Bo"},
    "text_repair": {"text": "hello world", "problem": "capital letters", "answer": "Hello World"},
    "next_word": {"text": "The cat sat on the", "answer": "mat"},
    "math": {"question": "Solve 2x = 4 for x.", "answer": "2"},
    "answer_check": {"context": "Bo is 3.", "question": "How old is Bo?", "candidate": "3", "options": ["no", "yes"],
                     "answer": "yes"},
    "contains_answer": {"question": "Who?", "sentence": "Bo did.", "options": ["yes", "no"], "answer": "yes"},
    "similarity": {"sentence1": "S1", "sentence2": "S2", "options": ["0", "1", "2", "3", "4", "5"], "answer": "4"},
    "word_sense": {"word": "bank", "sentence1": "A river bank.", "sentence2": "A bank loan.", "options": ["no", "yes"],
                   "answer": "no"},
    "prompted": {"inputs": "prompted text", "options": ["a", "b"], "answer": "b"},
}


def test_every_task_type_has_about_ten_distinct_templates():
  assert set(RECORDS) == set(TASK_TYPES)
  for task_type in TASK_TYPES:
    templates = templates_for(task_type)
    want = 1 if task_type == "prompted" else 10  # P3's own prompts are the templates of prompted records
    assert len(set(templates)) >= want, task_type
    for t in templates:  # every placeholder is a field of the type
      t.inputs.format(**RECORDS[task_type])
      t.targets.format(**RECORDS[task_type])


def test_headers_are_separate_strings():
  # Guards against the implicit-concatenation bug: "Options:" "Choose from:" would silently merge.
  for header in options.HEADERS:
    assert header.count(":") == 1 and header.endswith(":"), header


@pytest.mark.parametrize("style", OPTION_STYLES, ids=lambda s: f"{s.header}-{s.marker}")
def test_options_render_in_each_style(style):
  block, target = render_options(["red", "blue", "green"], "green", style)
  lines = block.split("\n")
  assert lines[0] == style.header and lines[0] in options.HEADERS
  assert len(lines) == 4
  for i, (line, option) in enumerate(zip(lines[1:], ["red", "blue", "green"])):
    assert line == f"{style.bullet(i)} {option}"
  if style.is_label:
    assert target == style.label(2) and target in lines[3]
    assert len({style.label(i) for i in range(3)}) == 3
  else:
    assert target == "green"


def test_options_reject_an_answer_not_among_them():
  with pytest.raises(ValueError):
    render_options(["a", "b"], "c", OPTION_STYLES[0])


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_same_seed_same_example(fmt):
  record = RECORDS["mcqa"]
  exemplars = [dict(record, question=f"Q{i}") for i in range(6)]
  a = render(record, "mcqa", FORMATS[fmt], random.Random(7), exemplars)
  b = render(record, "mcqa", FORMATS[fmt], random.Random(7), exemplars)
  assert a == b
  others = {render(record, "mcqa", FORMATS[fmt], random.Random(s), exemplars) for s in range(20)}
  assert len(others) > 1


@pytest.mark.parametrize("task_type", sorted(TASK_TYPES))
def test_every_template_is_used(task_type):
  fmt = FORMATS["cot_zs" if task_type == "cot" else "zs_noopt"]
  used = {render(RECORDS[task_type], task_type, fmt, random.Random(s)).template for s in range(1000)}
  assert used == set(range(formats.num_templates(task_type)))
  if task_type in library.INVERTED_TYPES:
    used_inversions = {render(RECORDS[task_type], task_type, FORMATS["inverted"], random.Random(s)).template
                       for s in range(400)}
    assert used_inversions == set(range(len(templates_for(task_type)), formats.num_templates(task_type)))


def test_inversion_is_one_of_a_muffin_datasets_templates_and_never_t0_niv2_or_cot():
  # Flan 2021 lists about one inversion among each dataset's ten templates; T0, NIV2 and CoT have none inline.
  own = len(templates_for("closed_book_qa"))
  draws = [render(RECORDS["closed_book_qa"], "closed_book_qa", FORMATS["zs_noopt"], random.Random(s))
           for s in range(2200)]
  inverted = [d for d in draws if d.template >= own]
  assert len(inverted) / len(draws) == pytest.approx(1 / (own + 1), abs=0.02)
  assert all(d.targets != "Paris" and "Paris" in d.inputs for d in inverted)  # the answer is now the input
  for task_type in ("prompted", "niv2", "cot", "dialog"):
    fmt = FORMATS["cot_zs" if task_type == "cot" else "zs_noopt"]
    assert max(render(RECORDS[task_type], task_type, fmt, random.Random(s)).template for s in range(300)) < len(
        templates_for(task_type))


def test_opt_lists_options_and_noopt_does_not():
  record = RECORDS["mcqa"]
  for s in range(30):
    opt = render(record, "mcqa", FORMATS["zs_opt"], random.Random(s))
    noopt = render(record, "mcqa", FORMATS["zs_noopt"], random.Random(s))
    if opt.template >= len(templates_for("mcqa")):
      continue  # an inverted example asks for the input: no options to list
    assert all(o in opt.inputs for o in record["options"])
    assert "green" not in noopt.inputs and noopt.targets == "blue"
    assert any(h in opt.inputs for h in options.HEADERS)


def _shots(record, task_type, fmt, seeds, n_exemplars=12):
  exemplars = [{"question": f"exemplar question {chr(65 + i)}", "answer": f"answer {chr(65 + i)}"}
               for i in range(n_exemplars)]
  for s in seeds:
    out = render(record, task_type, FORMATS[fmt], random.Random(s), exemplars)
    yield out, [e for e in exemplars if e["question"] in out.inputs]


def test_few_shot_uses_several_shots_from_the_given_exemplars():
  record = RECORDS["closed_book_qa"]
  for out, shots in _shots(record, "closed_book_qa", "fs_noopt", range(20)):
    assert len(shots) == out.num_shots >= 1  # never zero shots, nor the single-shot bug's one every time
    assert all(f"{e['answer']}" in out.inputs for e in shots)
    assert out.inputs.rstrip().endswith(tuple(a for _, a in formats.DELIMITERS))
    assert out.targets == "Paris" or out.template >= len(templates_for("closed_book_qa"))


def test_few_shot_shapes_follow_the_public_collection():
  mcqa = [render(RECORDS["mcqa"], "mcqa", FORMATS["fs_noopt"], random.Random(s), [RECORDS["mcqa"]] * 8)
          for s in range(300)]
  assert {o.shape for o in mcqa} == {"xshot"}  # NoOpt few-shot of a type with options: x-shot only
  record = RECORDS["closed_book_qa"]
  own = len(templates_for("closed_book_qa")) + 1  # ten templates and the inversion slot
  noopt = [out for out, _ in _shots(record, "closed_book_qa", "fs_noopt", range(1200))]
  # A type without options has one few-shot format standing for the public code's Opt and NoOpt few-shot.
  assert sum(o.shape == "mix5" for o in noopt) / len(noopt) == pytest.approx(0.25, abs=0.05)
  noopt = [o for o in noopt if o.shape == "xshot"]
  # x-shot keeps the candidates (of 25) that drew the query's template: Binomial(25, 1/11) given at least one.
  p = 1 / own
  expected = 25 * p / (1 - (1 - p) ** 25)
  assert sum(o.num_shots for o in noopt) / len(noopt) == pytest.approx(expected, abs=0.2)
  assert {o.num_shots for o in noopt} >= {1, 2, 3, 4}
  opt = [out for out, _ in _shots(dict(record, options=["Paris", "Rome"]), "closed_book_qa", "fs_opt", range(600))]
  mix = [o for o in opt if o.shape == "mix5"]
  assert len(mix) / len(opt) == pytest.approx(0.5, abs=0.07)
  assert all(o.num_shots == formats.MIX_SHOTS for o in mix)
  cot = [render(RECORDS["cot"], "cot", FORMATS["cot_fs"], random.Random(s), [RECORDS["cot"]] * 8) for s in range(600)]
  assert sum(o.shape == "mix5" for o in cot) / len(cot) == pytest.approx(0.5, abs=0.07)


def test_x_shot_exemplars_share_the_querys_template_and_mixed_five_shot_do_not():
  record = RECORDS["closed_book_qa"]
  templates = templates_for("closed_book_qa")
  mixed_templates = set()
  for out, shots in _shots(record, "closed_book_qa", "fs_noopt", range(200)):
    if out.template < len(templates) and out.shape == "xshot":
      for e in shots:
        assert formats._tidy(templates[out.template].inputs.format(**e)) in out.inputs
  for out, shots in _shots(dict(record, options=["Paris", "Rome"]), "closed_book_qa", "fs_opt", range(200)):
    if out.shape == "mix5" and out.template < len(templates):
      mixed_templates.add(all(formats._tidy(templates[out.template].inputs.format(**e)) in out.inputs for e in shots))
  assert False in mixed_templates  # some mixed five-shot examples use other templates for their exemplars


@pytest.mark.parametrize("budget", [60, 150, 400])
def test_few_shot_prunes_exemplars_to_the_budget(budget):
  record = {"question": "short?", "answer": "yes"}
  exemplars = [{"question": "x" * 50 + str(i), "answer": "a" * 10} for i in range(8)]
  for s in range(20):
    out = render(record, "closed_book_qa", FORMATS["fs_noopt"], random.Random(s), exemplars, count_tokens=len,
                 budget=budget)
    assert len(out.inputs) <= budget or out.num_shots == 0
    unpruned = render(record, "closed_book_qa", FORMATS["fs_noopt"], random.Random(s), exemplars, count_tokens=len,
                      budget=10**6)
    if out.num_shots < unpruned.num_shots:  # pruning stopped only because one more shot would not fit
      bigger = render(record, "closed_book_qa", FORMATS["fs_noopt"], random.Random(s), exemplars, count_tokens=len,
                      budget=10**6)
      assert bigger.num_shots > out.num_shots


def test_label_targets_in_few_shot_opt():
  record = RECORDS["mcqa"]
  for s in range(40):
    out = render(record, "mcqa", FORMATS["fs_opt"], random.Random(s), [record] * 3)
    if out.template >= len(templates_for("mcqa")):
      continue  # inverted: the target is the input
    assert out.targets in ("blue", "(B)", "B.", "(2)")


def test_cot_targets_end_in_the_answer_phrase():
  record = RECORDS["cot"]
  for fmt in ("cot_zs", "cot_fs"):
    for s in range(50):
      out = render(record, "cot", FORMATS[fmt], random.Random(s), [record] * 3)
      assert out.targets.endswith(f"{ANSWER_PHRASE} 2.")
      assert out.targets.startswith("One and one make two.")


@pytest.mark.parametrize("fmt", ["zs_opt", "fs_opt"])
def test_more_options_than_letters_are_numbered(fmt):
  options = [f"entity {i}" for i in range(40)]  # ReCoRD passages list dozens of entities
  record = {"text": "___ won.", "options": options, "answer": "entity 33"}
  for s in range(40):
    out = render(record, "coreference", FORMATS[fmt], random.Random(s), [record] * 3)
    if out.template >= len(templates_for("coreference")):
      continue  # inverted: no options
    assert "entity 39" in out.inputs
    assert out.targets in ("entity 33", "(34)")
