"""Input lengths that keep every question, and decode budgets sized from the exemplars (lengths.py).

Hand-made prompts on the byte vocabulary check the rules; the real benchmark files with T5's SentencePiece model
check the figures of issue #24 (tokenised once per module).
"""

import json

import pytest
import seqio
import tensorflow as tf

from flanx import data_dir
from flanx.evaluation import lengths
from tasks.evals import names, prompts, registry
from tests.helpers import SHARED_DATA

BYTES = seqio.ByteVocabulary()
SHOTS = [prompts.Shot(f"exemplar question {i}?", f" answer {i}" + " because" * i) for i in range(1, 4)]
HEADER, QUERY = "A header line.", "the real question, which must survive?"


def _example(group="g", shots=SHOTS, query=QUERY, zero_shot=False) -> dict:
  p = prompts.QA.prompt(HEADER, shots, query, lead=prompts.COT_LEAD, zero_shot=zero_shot)
  return {"inputs": p.text, "targets": "So the answer is x.",
          "meta": {"group": group, "shot_starts": list(p.shot_starts), "exemplar_answers": list(p.exemplar_answers)}}


def _tokens(text: str) -> int:
  return lengths.token_count(text, BYTES)


def test_prompt_offsets_mark_each_exemplar():
  p = prompts.QA.prompt(HEADER, SHOTS, QUERY)
  assert p.text == prompts.QA.build(HEADER, SHOTS, QUERY)
  assert [p.text[i:].split("\n", 1)[0] for i in p.shot_starts] == [
      "Q: exemplar question 1?", "Q: exemplar question 2?", "Q: exemplar question 3?", f"Q: {QUERY}"]
  zero = prompts.QA.prompt(HEADER, SHOTS, QUERY, zero_shot=True)
  assert zero.text == f"{HEADER}\n\nQ: {QUERY}\nA:" and zero.shot_starts == (len(HEADER) + 2,)
  assert zero.exemplar_answers == p.exemplar_answers == tuple(s.answer for s in SHOTS)


def test_fit_drops_whole_exemplars_from_the_start():
  ex = _example()
  full = _tokens(ex["inputs"])
  without_two = prompts.QA.build(HEADER, SHOTS[2:], QUERY, lead=prompts.COT_LEAD)
  f = lengths.fit(ex["inputs"], ex["meta"]["shot_starts"], _tokens(without_two), BYTES)
  assert (f.inputs, f.dropped, f.fits, f.tokens) == (without_two, 2, True, _tokens(without_two))
  unchanged = lengths.Fitted(ex["inputs"], full, 0, True)
  assert lengths.fit(ex["inputs"], ex["meta"]["shot_starts"], full, BYTES) == unchanged
  assert lengths.fit(ex["inputs"], ex["meta"]["shot_starts"], None, BYTES).dropped == 0
  # One token short of the bare query: every exemplar dropped and still too long.
  bare = prompts.QA.build(HEADER, [], QUERY, lead=prompts.COT_LEAD)
  f = lengths.fit(ex["inputs"], ex["meta"]["shot_starts"], _tokens(bare) - 1, BYTES)
  assert (f.inputs, f.dropped, f.fits) == (bare, 3, False)


def test_plan_sizes_to_the_longest_prompt_and_counts_what_fitting_costs():
  short = _example("short", shots=SHOTS[:1])
  long_ = _example("long")
  exs = [short, long_, _example("long")]
  report = lengths.plan_inputs(exs, BYTES)  # no length given, no model limit: nothing is dropped
  assert report.input_length == report.longest == _tokens(long_["inputs"]) and report.over == 0
  capped = lengths.plan_inputs(exs, BYTES, max_input_length=_tokens(short["inputs"]))
  assert (capped.input_length, capped.over, capped.lost_exemplars, capped.cut) == (_tokens(short["inputs"]), 2, 2, 0)
  assert capped.lost_exemplars_by_group == {"long": 2}
  # A user's length below the bare query: the prompt is cut (its end kept), not counted as fitted.
  tiny = lengths.plan_inputs(exs, BYTES, input_length=20)
  assert (tiny.over, tiny.lost_exemplars, tiny.cut) == (3, 0, 3)
  assert lengths.plan_inputs(exs, BYTES, input_length=10**6, max_input_length=64).input_length == 64


def test_decode_budget_covers_the_longest_exemplar_answer():
  budget, longest = lengths.decode_length([_example()], BYTES)
  assert longest == len(SHOTS[-1].answer.encode())
  assert budget == longest + lengths.MIN_MARGIN + 1
  long_answer = [prompts.Shot("q?", " x" * 500)]
  budget, longest = lengths.decode_length([_example(shots=long_answer, zero_shot=True)], BYTES)
  assert longest == 1000 and budget == 1000 + 250 + 1  # the margin grows with the answer


def test_the_task_pipeline_fits_and_keeps_the_query_end():
  ex = _example()
  bare = prompts.QA.build(HEADER, [], QUERY, lead=prompts.COT_LEAD)
  features = {"inputs": seqio.Feature(BYTES, add_eos=True)}

  def pipeline(budget):
    ds = tf.data.Dataset.from_tensors({"inputs": ex["inputs"], "meta": json.dumps(ex["meta"])})
    ds = lengths.fit_exemplars(ds, {"inputs": budget}, features)
    ds = seqio.preprocessors.tokenize(ds, features)
    ds = lengths.keep_end(ds, {"inputs": budget}, features)
    ds = seqio.preprocessors.append_eos_after_trim(ds, output_features=features, sequence_length={"inputs": budget})
    return next(ds.as_numpy_iterator())

  out = pipeline(_tokens(bare))  # fits with every exemplar dropped
  assert out["inputs_pretokenized"].decode() == bare and BYTES.decode(out["inputs"].tolist()) == bare
  out = pipeline(21)  # shorter than the bare query: its last 20 tokens and EOS, never its start
  assert BYTES.decode(out["inputs"][:-1].tolist()) == bare[-20:] and out["inputs"][-1] == BYTES.eos_id


# --- the real benchmark files, T5's SentencePiece vocabulary -------------------------------------------------------

REAL_SETTINGS = ("mmlu_direct", "mmlu_cot", "bbh_cot", "mgsm")


@pytest.fixture(scope="module")
def real():
  """(vocabulary, {setting: examples}) on the shared data, read and tokenised once for the module."""
  spm = SHARED_DATA / "vocab" / "spiece.model"
  if not spm.is_file():
    pytest.skip(f"real data directory {SHARED_DATA} (with vocab/spiece.model) is not present")
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv(data_dir.ENV_VAR, str(SHARED_DATA))
    data_dir.install(None)
    examples = {name: [{"inputs": e.inputs, "targets": e.targets, "meta": e.meta()}
                       for e in registry.examples(names.SETTINGS_BY_NAME[name], names.VALIDATION)]
                for name in REAL_SETTINGS}
  return seqio.SentencePieceVocabulary(str(spm)), examples


def test_real_prompts_over_2048_tokens_lose_exemplars_not_questions(real):
  vocabulary, examples = real
  # BBH-CoT's longest prompt is 1,970 tokens; it is left out here to save tokenising 6,511 prompts.
  reports = {name: lengths.plan_inputs(examples[name], vocabulary, max_input_length=2048)
             for name in ("mmlu_direct", "mmlu_cot", "mgsm")}
  # The counts of issue #24: T5's SentencePiece, EOS included.
  assert (reports["mmlu_cot"].over, reports["mmlu_cot"].total) == (205, 1531)
  assert reports["mmlu_cot"].lost_exemplars_by_group["professional_law"] == 158
  assert reports["mmlu_direct"].over == 43
  assert (reports["mgsm"].over, reports["mgsm"].lost_exemplars_by_group) == (45, {"ru": 45})
  # Every one of them fits once whole exemplars are dropped: none is cut.
  assert all(r.lost_exemplars == r.over and r.cut == 0 for r in reports.values())
  law = [e for e in examples["mmlu_cot"] if e["meta"]["group"] == "professional_law"]
  longest = max(law, key=lambda e: len(e["inputs"]))
  fitted = lengths.fit(longest["inputs"], longest["meta"]["shot_starts"], 2048, vocabulary)
  query = longest["inputs"][longest["meta"]["shot_starts"][-1]:]
  assert fitted.fits and fitted.tokens <= 2048 and fitted.inputs.endswith(query) and fitted.dropped >= 1
  assert fitted.inputs.startswith("The following are multiple choice questions (with answers) about professional law.")


def test_real_default_input_length_holds_every_prompt(real):
  vocabulary, examples = real
  report = lengths.plan_inputs(examples["mmlu_cot"], vocabulary)
  assert report.input_length == report.longest > 2048 and report.over == 0


def test_real_decode_budgets_cover_the_released_exemplar_chains(real):
  vocabulary, examples = real
  longest_by_group = {}
  for e in examples["bbh_cot"]:
    g = e["meta"]["group"]
    if g not in longest_by_group:
      longest_by_group[g] = max(len(vocabulary.encode(a)) for a in e["meta"]["exemplar_answers"])
  over_256 = sorted(g for g, n in longest_by_group.items() if n > 256)
  assert len(over_256) == 8
  assert longest_by_group["geometric_shapes"] == 646 and longest_by_group["dyck_languages"] == 540
  budget, longest = lengths.decode_length(examples["bbh_cot"], vocabulary)
  assert longest == 646 and budget > 646
  budget, longest = lengths.decode_length(examples["mmlu_cot"], vocabulary)
  assert longest == 588 and budget > 588  # college_mathematics
