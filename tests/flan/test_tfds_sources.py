"""Every TFDS-backed Muffin source through seqio on `tfds.testing.mock_data`, and the converters' logic on
realistic records.

mock_data builds random examples from each installed builder's `info.features` (builder metadata is local,
nothing is downloaded), so a converter that reads a feature the dataset does not have fails here.
"""

import pytest
import seqio
import tensorflow_datasets as tfds

import tasks  # noqa: F401  registers everything
from flanx import data_dir, vocab
from tasks.flan import converters as c
from tasks.flan import muffin, names, readers, registry

MOCK_EXAMPLES = 3
# Converters whose records random values can never satisfy: they still read every feature of each mock
# example (so a wrong name fails), and `test_converters_on_realistic_records` checks what they produce.
NO_RANDOM_EXAMPLE = {
    "coqa": "needs as many answers as questions",
    "unified_qa_science_inst": "needs '(A) ... (B) ...' options in the input",
    "sentiment140": "needs polarity 0 or 4",
    "record": "needs the answer among the entities",
    "hellaswag": "needs a label in 0..3 (an int feature, not a ClassLabel)",
    "story_cloze": "needs a label of 1 or 2 (an int feature, not a ClassLabel)",
    "true_case": "needs capital letters in the text",
    "fix_punct": "needs punctuation in the text",
    "word_segment": "needs a space in the text",
    "lambada": "needs a space in the passage",
}


@pytest.fixture(autouse=True)
def byte_vocab():
  vocab.use(seqio.ByteVocabulary())


@pytest.fixture
def mock_tfds(tmp_path, monkeypatch):
  monkeypatch.setattr(readers.Tfds, "present", lambda self: True)  # no prepared data: mock_data supplies it
  data_dir.set_data_dir(tmp_path)
  with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES, policy=tfds.testing.MockPolicy.USE_CODE):
    yield
  data_dir.set_data_dir(None)


TFDS_SOURCES = [s for s in muffin.sources() if isinstance(s.reader, readers.Tfds)]


def test_every_tfds_name_and_config_exists():
  for source in TFDS_SOURCES:
    builder = tfds.builder(source.reader.name, data_dir="/nonexistent")  # a wrong config fails to construct
    assert builder.info.features is not None, source.dataset


@pytest.mark.slow
@pytest.mark.parametrize("source", TFDS_SOURCES, ids=lambda s: s.dataset)
def test_tfds_source_through_seqio_on_mock_data(mock_tfds, source):
  calls = []
  formats = source.formats[:1]  # zs_opt where the type has options (renders them too), else zs_noopt
  for fmt in formats:
    task = seqio.get_mixture_or_task(names.task("muffin", source.dataset, fmt))
    reader = registry.TASKS[task.name].source.reader  # the registered reader, whose converter is counted
    convert = reader.convert

    def counted(raw, convert=convert):
      calls.append(1)
      return convert(raw)

    object.__setattr__(reader, "convert", counted)
    try:
      ds = task.get_dataset({"inputs": 512, "targets": 128}, split="train", shuffle=False, num_epochs=1)
      rows = list(ds.as_numpy_iterator())
    finally:
      object.__setattr__(reader, "convert", convert)
    if source.dataset not in NO_RANDOM_EXAMPLE:
      assert rows, f"{source.dataset} {fmt}: no example from {MOCK_EXAMPLES} mock records"
      assert all(len(r["inputs"]) > 1 and r["targets"][-1] == 1 for r in rows)
  assert len(calls) == MOCK_EXAMPLES * len(formats)  # every mock record reached the converter


def test_converters_on_realistic_records():
  assert c.coqa({"story": "Ann had a dog.", "questions": ["Who?", "What?"],
                 "answers": {"input_text": ["Ann", "a dog"], "answer_start": [0, 8], "answer_end": [3, 13]}}) == {
      "context": "Ann had a dog.", "question": "1. Who?\n2. What?", "answer": "1. Ann\n2. a dog"}
  science = c.unified_qa_science({"input": "Which is a liquid? \\n (A) ice (B) water (C) steam (D) rock",
                                  "output": "water"})
  assert science == {"question": "Which is a liquid?", "options": ["ice", "water", "steam", "rock"], "answer": "water"}
  assert c.unified_qa_science({"input": "No options here", "output": "x"}) is None
  record = c.sentiment140({"text": "great day", "polarity": 4, "date": "", "query": "", "user": ""})
  assert record["answer"] == "positive"
  assert c.sentiment140({"text": "meh", "polarity": 2}) is None
  rec = c.record({"passage": "Paris is big.\n@highlight\nA highlight", "query": "@placeholder is big",
                  "entities": ["Paris", "Rome", "Paris"], "answers": ["Paris"]})
  assert rec == {"text": "Paris is big.\n\n___ is big", "options": ["Paris", "Rome"], "answer": "Paris"}
  assert c.record({"passage": "p", "query": "q", "entities": ["A"], "answers": ["B"]}) is None
  assert c.hellaswag({"context": "He runs", "endings": ["a", "b", "c", "d"], "label": 2})["answer"] == "c"
  assert c.story_cloze({"context": "Story.", "endings": ["good end", "bad end"], "label": 1})["answer"] == "good end"
  assert c.story_cloze({"context": "Story.", "endings": ["good end", "bad end"], "label": 2})["answer"] == "bad end"
  assert c.wsc({"text": "The cup fell on the tile and it broke.", "span1_text": "the tile", "span2_text": "it",
                "label": 1}) == {"premise": "The cup fell on the tile and it broke.",
                                 "hypothesis": '"it" refers to the tile.', "options": ["no", "yes"], "answer": "yes"}
  assert c.stsb({"sentence1": "a", "sentence2": "b", "label": 3.6})["answer"] == "4"
  assert c.stsb({"sentence1": "a", "sentence2": "b", "label": 7.0}) is None
  assert c.qnli({"question": "Who?", "sentence": "Bo.", "label": 0})["answer"] == "yes"  # 0 is entailment
  clean = {"en": "Hello, World."}
  assert c.repair("capital letters", str.lower)(clean) == {"text": "hello, world.", "problem": "capital letters",
                                                          "answer": "Hello, World."}
  assert c.repair("punctuation", c.strip_punctuation)(clean)["text"] == "Hello World"
  assert c.repair("spaces between words", c.strip_spaces)(clean)["text"] == "Hello,World."
  assert c.repair("punctuation", c.strip_punctuation)({"en": "no marks here"}) is None
  assert c.lambada({"passage": "the cat sat on the mat"}) == {"text": "the cat sat on the", "answer": "mat"}
  assert c.e2e_data({"meaning_representation": "name[The Eagle], food[French]"}) == "name = The Eagle, food = French"
  assert (c.dart_data({"tripleset": ["[TABLECONTEXT] | [TITLE] | Film", "Ann | born | 1990"]})
          == "Film; Ann | born | 1990")
  assert (c.web_nlg_data({"input": ["Alan_Bean | birthPlace | Wheeler,_Texas"]})
          == "Alan Bean, birthPlace, Wheeler, Texas")
  assert c.code_contests_python(
      {"description": "Add.", "solutions": {"language": [2, 3], "solution": ["cpp", "py"]}}) == {
      "question": "Add.", "answer": "py"}
  assert c.code_contests_python({"description": "Add.", "solutions": {"language": [2], "solution": ["cpp"]}}) is None
  assert c.arc({"question": "Q", "choices": {"label": [0, 1, 2, 3], "text": ["a", "b", "c", "d"]}, "answerKey": 3})[
      "answer"] == "d"
