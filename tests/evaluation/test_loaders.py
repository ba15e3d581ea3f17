import collections

import pytest

from flanx.evaluation import lengths
from tasks.evals import mmlu, names, prompts, registry, tydiqa


def _examples(setting, split=names.VALIDATION):
  return registry.examples(names.SETTINGS_BY_NAME[setting], split)


def _groups(setting, split=names.VALIDATION):
  return collections.Counter(e.group for e in _examples(setting, split))


def test_real_counts(shared_data, use_data):
  use_data(shared_data)
  bbh = _groups("bbh_cot")
  assert len(bbh) == 27 and sum(bbh.values()) == 6511
  assert bbh["causal_judgement"] == 187 and bbh["penguins_in_a_table"] == 146 and bbh["snarks"] == 178
  assert sum(_groups("bbh_direct").values()) == 6511
  assert _groups("mgsm") == {lang: 250 for lang in names.MGSM_LANGUAGES}
  val, test = _groups("mmlu_direct"), _groups("mmlu_cot", names.TEST)
  assert len(val) == len(test) == 57 and sum(val.values()) == 1531 and sum(test.values()) == 14042
  assert sum(len(mmlu._rows(s, "dev")) for s in names.MMLU_SUBJECTS) == 285


def test_real_prompts(shared_data, use_data):
  use_data(shared_data)
  cot = _examples("bbh_cot")[0]
  direct = _examples("bbh_direct")[0]
  assert cot.inputs.count("\n\nQ: ") == 4 and cot.inputs.endswith("A: Let's think step by step.")
  assert direct.inputs.count("\n\nQ: ") == 4 and "think step by step" not in direct.inputs
  assert "\nA: False\n\n" in direct.inputs  # the exemplar's rationale is gone, its answer kept
  m = _examples("mmlu_cot")[0]
  assert m.inputs.startswith("The following are multiple choice questions (with answers) about abstract algebra.")
  assert m.inputs.count("The answer is (") == 5
  d = _examples("mmlu_direct")[0]
  assert d.inputs.count("\nA: (") == 5 and d.inputs.endswith("\nA:") and d.chance == 0.25
  zh = [e for e in _examples("mgsm") if e.group == "zh"][0]
  assert zh.inputs.count("问题：") == 9 and zh.inputs.endswith("逐步解答：") and "答案是" in zh.rule.phrases
  assert (zh.rule.locale, zh.rule.cot, zh.targets) == ("zh", True, f"答案是 {zh.gold[0]}.")


def test_real_prompts_fitted_to_a_byte_budget(shared_data, use_data):
  import seqio
  use_data(shared_data)
  examples = [{"inputs": e.inputs, "targets": e.targets, "meta": e.meta()} for e in _examples("mgsm")
              if e.group in ("en", "te")]
  report = lengths.plan_inputs(examples, seqio.ByteVocabulary(), 4096)  # UTF-8 bytes: Telugu is ~3 per letter
  assert report.total == 500 and 0 < report.over < report.total and report.cut == 0
  assert report.lost_exemplars_by_group["te"] == 250 and "en" not in report.lost_exemplars_by_group
  assert report.lost_exemplars == report.over == sum(report.lost_exemplars_by_group.values())
  assert lengths.plan_inputs(examples, seqio.ByteVocabulary(), 10**6).over == 0


def test_real_zero_shot_prompts_are_the_few_shot_ones_without_exemplars(shared_data, use_data):
  use_data(shared_data)
  few_shot, zero_shot = _examples("mmlu_cot"), _examples("mmlu_zeroshot_cot")
  assert len(zero_shot) == len(few_shot) == 1531
  for few, zero in zip(few_shot, zero_shot):
    assert zero.inputs == few.inputs[:few.shot_starts[0]] + few.inputs[few.shot_starts[-1]:]
    assert len(zero.shot_starts) == 1 and len(few.shot_starts) in (5, 6)  # 5 exemplars (4 for three subjects)
    assert zero.exemplar_answers == few.exemplar_answers and zero.gold == few.gold


def test_tydiqa_fixture_by_language(fixture_data):
  groups = _groups("tydiqa")
  assert groups == {lang: 2 for lang in names.TYDIQA_LANGUAGES}  # English left out
  ex = _examples("tydiqa")[0]
  assert ex.inputs.count("Passage: ") == 2 and ex.inputs.endswith("Answer:")
  assert "ar town" in ex.inputs and "Answer: 300\n\n" in ex.inputs  # one-shot, same-language exemplar (train)
  assert ex.gold == ("The Blue Way", "Blue Way")


def test_tydiqa_without_train_file_uses_first_dev_item(tmp_path, use_data):
  import shutil
  from tests.evaluation.conftest import FIXTURES
  shutil.copytree(FIXTURES / "tydiqa", tmp_path / "tydiqa")
  (tmp_path / "tydiqa" / tydiqa.TRAIN).unlink()
  use_data(tmp_path)
  assert _groups("tydiqa") == {lang: 1 for lang in names.TYDIQA_LANGUAGES}


def test_fixture_counts_and_direct_answers(fixture_data):
  assert sum(_groups("mmlu_direct").values()) == 114 and sum(_groups("bbh_direct").values()) == 81
  assert _groups("mgsm") == {lang: 3 for lang in names.MGSM_LANGUAGES}
  direct = [e for e in _examples("bbh_direct") if e.group == "date_understanding"][0]
  assert "A: (B)\n\n" in direct.inputs and "So the answer" not in direct.inputs


def test_prompt_parse_round_trip():
  text = "Header line.\n\nQ: one?\nA: Let's think step by step.\nx. So the answer is 1.\n\nQ: two?\nA: 2"
  header, shots = prompts.parse_qa_prompt(text)
  assert header == "Header line." and len(shots) == 2
  assert prompts.QA.build(header, shots, "three?", lead=prompts.COT_LEAD) == (
      text + "\n\nQ: three?\nA: Let's think step by step.")
  with pytest.raises(ValueError):
    prompts.parse_qa_prompt("Header\n\nQ: no answer line")


def test_real_choice_rules_carry_the_options(shared_data, use_data):
  use_data(shared_data)
  bbh = {e.id: e for e in _examples("bbh_direct")}
  date = bbh["date_understanding/0"]
  assert date.rule.format == "choice" and not date.rule.cot and [o[0] for o in date.rule.options] == list("ABCDEF")
  assert all(text and "\n" not in text for _, text in date.rule.options)
  # Three released targets are an option's text rather than its letter; they are compared as text.
  text_targets = [e for e in bbh.values() if e.rule.format == "text" and e.rule.options == ()
                  and e.group in ("movie_recommendation", "ruin_names")]
  assert sorted(e.gold[0] for e in text_targets) == ["Monsters, Inc", "dearth, wind, & fire", "rita, sue and bob poo"]
  cot = _examples("bbh_cot")[0]
  assert cot.rule.cot and cot.targets == f"So the answer is {cot.gold[0]}."
  m = _examples("mmlu_cot")[0]
  assert m.rule.cot and len(m.rule.options) == 4 and m.targets == f"The answer is {m.gold[0]}."


def test_bbh_source_tasks_are_one_list():
  # tasks/flan leaves BBH's BIG-Bench tasks out of the collection using the held-out list itself.
  from tasks.flan import niv2
  assert niv2.BBH_SUBTASKS is names.BBH_SOURCE_TASKS and len(names.BBH_SOURCE_TASKS) == 23
  assert {"logical_deduction", "multistep_arithmetic", "tracking_shuffled_objects"} <= set(names.BBH_SOURCE_TASKS)
  assert niv2.excluded("task999_bigbench_logical_deduction_fixture") is not None


def test_zero_shot_prompts_keep_the_header_and_the_query_only(fixture_data):
  for few, zero in (("mmlu_cot", "mmlu_zeroshot_cot"), ("bbh_direct", "bbh_zeroshot_direct")):
    few_shot, zero_shot = _examples(few)[0], _examples(zero)[0]
    query = few_shot.inputs[few_shot.shot_starts[-1]:]
    header = few_shot.inputs[:few_shot.shot_starts[0]]
    assert zero_shot.inputs == header + query and zero_shot.shot_starts == (len(header),)
    assert zero_shot.exemplar_answers == few_shot.exemplar_answers and len(few_shot.exemplar_answers) >= 2
    assert (zero_shot.targets, zero_shot.gold, zero_shot.rule) == (few_shot.targets, few_shot.gold, few_shot.rule)
  assert _examples("bbh_zeroshot_cot")[0].inputs.endswith("A: Let's think step by step.")
  assert _examples("mmlu_zeroshot_direct")[0].inputs.endswith("\nA:")
  # Outside the Table 5 row: their own suites, not in flan_heldout or the benchmarks' suites.
  assert names.SUITES["zero_shot"] == ("mmlu_zeroshot_direct", "mmlu_zeroshot_cot", "bbh_zeroshot_direct",
                                       "bbh_zeroshot_cot")
  assert names.SUITES["bbh_zero_shot"] == ("bbh_zeroshot_direct", "bbh_zeroshot_cot")
  assert names.SUITES["bbh"] == ("bbh_direct", "bbh_cot") and len(names.SUITES["flan_heldout"]) == 6
  assert names.SETTINGS_BY_NAME["mmlu_zeroshot_cot"].splits == ("validation", "test")
