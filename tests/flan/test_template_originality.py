"""flanx's instruction templates are its own: none repeats a public FLAN template, and none doubles a label
that its field already carries ("Question: Question: ...")."""

import random
import re

import pytest

from flanx.templates import FORMATS, TASK_TYPES, library, render, templates_for
from tests.flan.test_templates import RECORDS

# A sample of the public FLAN templates (google-research/FLAN, flan/v2/templates.py), kept here only so that
# the test can tell whether a flanx template repeats one. Placeholder names are FLAN's.
FLAN_PUBLIC = (
    "Premise: {premise}\nHypothesis: {hypothesis}\nDoes the premise entail the hypothesis?",
    "Instructions: {definition}\nInput: {input}\nOutput:",
    "Translate to {lang2}:\n\n{sent1}",
    "Please answer the following: {question}",
    "Answer the following question.\n{question}",
    "{premise}\n\nBased on the paragraph above can we conclude that \"{hypothesis}\"?",
    "{premise}\n\nBased on that paragraph can we conclude that the sentence below is true?\n{hypothesis}",
    "{premise}\nDoes this next sentence follow, given the preceding text?\n{hypothesis}",
    "Read the following paragraph and determine if the hypothesis is true:\n\n{premise}\n\nHypothesis: {hypothesis}",
    "Read the text and determine if the sentence is true:\n\n{premise}\n\nSentence: {hypothesis}",
    "Determine if the sentence is true based on the text below:\n{hypothesis}\n\n{premise}",
    "What is the most logical completion for the following text?\n\n{context}",
    "{sentence1}\n{sentence2}\nDoes the word \"{word}\" mean the same thing in the above two sentences?",
    "Here is one sentence: {sentence1}\nHere is another sentence: {sentence2}\nDoes the term {word} mean the same "
    "thing in both these sentences?",
    "Complete the passage: pick from possible candidates.\n\n{passage}\n\n{query}",
    "What's the most logical way to complete this passage?\n\n{passage}\n\n{query}",
    "What is the answer to this question? {question}",
    "Can you tell me the answer to {question}?",
    "Answer the following question:\n\n{question}",
    "Trivia question: {question}\nAnd the answer is?",
    "Write down the solution for this math problem: {question}",
    "What is the solution to this math problem?\n{question}",
    "What is the subject line for this email?\n\n{body}\n\nSubject Line:",
    "Write highlights for this article:\n\n{text}\n\nHighlights:",
    "Write a short summary for this text: {text}\n\nSummary:",
    "Briefly summarize this sentence: {text}\n\nSummary:",
    "{text}\n\nWhat is a very short summary of the above text?",
    "{text}\nCan you generate a short summary of the above paragraph?",
    "Write a summary based on this article:\n\n{text}\n\nSummary:",
    "{text}\nWhat is a one-paragraph summary of the above article?",
    "Please write a short summary for the following article:\n\n{title}\n\n{text}\n\nSummary:",
    "{dialogue}\n\nBriefly summarize that dialogue.",
    "{sent2}\n\nCould you please translate this to {lang1}?",
    "Translate the following sentence to {lang2}:\n{sent1}",
    "How is \"{sent1}\" said in {lang2}?",
    "Translate the following.\n\n{lang1}: {sent1}\n\n{lang2}:",
    "Q: {question} A:",
    "Question: {question}\nAnswer:",
)
WINDOW = 40


def normalise(template: str) -> str:
  """Case, whitespace and placeholder names do not make a template different."""
  text = re.sub(r"\{[^{}]*\}", "{}", template.lower())
  return re.sub(r"\s+", " ", text).strip()


def shared_run(ours: str, theirs: str) -> str | None:
  """A run of WINDOW characters of `ours` that `theirs` also contains, after normalising both."""
  a, b = normalise(ours), normalise(theirs)
  if a == b:
    return a
  return next((a[i:i + WINDOW] for i in range(len(a) - WINDOW + 1) if a[i:i + WINDOW] in b), None)


def all_templates() -> list[tuple[str, str]]:
  found = [(task_type, t.inputs) for task_type in TASK_TYPES for t in templates_for(task_type)]
  found += [(task_type, t.targets) for task_type in TASK_TYPES for t in templates_for(task_type)]
  return found + [("inversion", t.inputs) for t in library.INVERSION]


def test_the_check_finds_a_copy_with_renamed_placeholders():
  renamed = "premise: {p}\n  hypothesis: {h}\ndoes the PREMISE entail the hypothesis?"
  assert shared_run(renamed, FLAN_PUBLIC[0])
  assert shared_run("Look: " + FLAN_PUBLIC[8] + " Thanks.", FLAN_PUBLIC[8])  # embedded in a longer template
  assert shared_run("{question}\nRespond briefly.", FLAN_PUBLIC[3]) is None


def test_no_template_repeats_a_public_flan_template():
  copies = [(task_type, ours, run) for task_type, ours in all_templates() for theirs in FLAN_PUBLIC
            if (run := shared_run(ours, theirs))]
  assert not copies, copies


def test_templates_are_distinct_within_each_type():
  for task_type in TASK_TYPES:
    normalised = [normalise(t.inputs) for t in templates_for(task_type)]
    assert len(set(normalised)) == len(normalised), task_type


LABELLED_FIELD = re.compile(r"([A-Z][A-Za-z ]{0,20}):\s*\{(\w+)\}")


@pytest.mark.parametrize("task_type", sorted(TASK_TYPES))
def test_a_field_that_carries_its_own_label_is_not_labelled_twice(task_type):
  pairs = {(label, field) for t in templates_for(task_type) for label, field in LABELLED_FIELD.findall(t.inputs)}
  for label, field in sorted(pairs):
    record = dict(RECORDS[task_type], **{field: f"{label}: {RECORDS[task_type][field]}"})
    doubled = re.compile(rf"{re.escape(label)}:\s*{re.escape(label)}:", re.IGNORECASE)
    for fmt in ("cot_zs", "cot_fs") if task_type == "cot" else ("zs_noopt", "fs_noopt"):
      for seed in range(120):
        out = render(record, task_type, FORMATS[fmt], random.Random(seed), [record] * 3)
        assert not doubled.search(out.inputs), (task_type, label, out.inputs)


def test_prompted_inputs_that_start_with_a_delimiter_are_not_doubled():
  # The wiki_qa sample of `flanx inspect flan2022_mini`: P3 inputs start with "Question:", as does one of
  # the few-shot delimiters.
  record = {"inputs": "Question: what is the capital of australia\nIs 'Canberra' a correct answer?",
            "options": ["No", "Yes"], "answer": "Yes"}
  for seed in range(200):
    out = render(record, "prompted", FORMATS["fs_noopt"], random.Random(seed), [record] * 4)
    assert not re.search(r"Question:\s*Question:", out.inputs), out.inputs
