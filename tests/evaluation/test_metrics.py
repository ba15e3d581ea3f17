import pytest

from flanx.evaluation import metrics, squad
from flanx.evaluation.self_consistency import majority_vote


@pytest.mark.parametrize("prediction, gold, em, f1", [
    ("The Blue Way", "Blue Way", 1.0, 1.0),               # article and case dropped
    ("blue way!", "Blue  Way.", 1.0, 1.0),                # punctuation and spaces
    ("the blue river way", "Blue Way", 0.0, 0.8),         # P=2/3, R=1 -> 0.8
    ("Blue", "Blue Way", 0.0, 2 / 3),                     # P=1, R=1/2
    ("red", "Blue Way", 0.0, 0.0),
    ("a an the", "the", 1.0, 0.0),                        # both normalise to '' -> EM 1; no tokens -> F1 0
    ("Hel-sinki", "Helsinki", 1.0, 1.0),                  # '-' is ASCII punctuation
    ("«Москва»", "Москва", 0.0, 0.0),                     # '«' is not ASCII punctuation (v1.1 uses string.punctuation)
])
def test_squad_v11_definitions(prediction, gold, em, f1):
  assert squad.exact_match(prediction, gold) == em
  assert squad.f1(prediction, gold) == pytest.approx(f1)


def test_squad_takes_the_best_gold():
  assert squad.best(squad.f1, "blue way", ["red", "the Blue Way", "way"]) == 1.0


def _meta(group, gold, fmt="choice", chance=0.25):
  return {"group": group, "gold": [gold], "rule": {"format": fmt}, "chance": chance}


def test_per_subject_headline_and_per_example_beside_it():
  metas = [_meta("a", "(A)"), _meta("a", "(B)"), _meta("a", "(C)"), _meta("b", "(A)")]
  preds = ["(A)", "(B)", "(D)", "(D)"]  # a: 2/3, b: 0/1
  out = metrics.summarize(metas, preds, metrics.Aggregation())
  assert out["score"] == pytest.approx((200 / 3 + 0) / 2)  # each group weighs the same
  assert out[metrics.PER_EXAMPLE] == pytest.approx(50.0)   # 2 of 4 examples
  assert out["normalized"] == pytest.approx(100 * (100 / 3 - 25) / 75)  # from the per-group headline
  assert out["correct/a"] == pytest.approx(200 / 3) and out["correct/b"] == 0.0


def test_mmlu_headline_is_the_mean_over_subjects():
  from tasks.evals import registry
  metas = [_meta("anatomy", "(A)")] * 3 + [_meta("virology", "(A)")]
  out = metrics.summarize(metas, ["(A)", "(A)", "(A)", "(B)"], registry.AGGREGATIONS["mmlu"])
  assert out["score"] == pytest.approx(50.0) and out[metrics.PER_EXAMPLE] == pytest.approx(75.0)
  assert out["normalized"] == pytest.approx(100 * (50 - 25) / 75)


def test_per_group_normalisation_uses_each_groups_chance():
  metas = [_meta("yesno", "Yes", "text", 0.5), _meta("free", "12", "number", 0.0)]
  out = metrics.summarize(metas, ["Yes", "3"], metrics.Aggregation())
  assert out["normalized"] == pytest.approx((100 + 0) / 2)  # yes/no: (100-50)/50*100; free-form: 0
  assert out["random"] == pytest.approx(25.0)


def test_headline_groups_exclude_english_but_report_it():
  metas = [_meta("en", "5", "number", 0), _meta("de", "5", "number", 0), _meta("zh", "2125", "number", 0)]
  out = metrics.summarize(metas, ["5", "4", "2125"], metrics.Aggregation(headline_groups=("de", "zh")))
  assert out["score"] == 50.0 and out["correct/en"] == 100.0


def test_empty_answer_is_wrong_even_against_empty_gold():
  assert metrics.score_example("", _meta("g", "", "text"))["correct"] == 0.0


def test_tydiqa_em_and_f1_in_summary():
  metas = [{"group": "fi", "gold": ["Blue Way"], "rule": {"format": "span"}, "chance": 0.0}] * 2
  out = metrics.summarize(metas, ["the blue way", "blue"], metrics.Aggregation(key="em"))
  assert out["score"] == 50.0 and out["f1"] == pytest.approx((100 + 100 * 2 / 3) / 2)


@pytest.mark.parametrize("votes, winner", [
    (["(B)", "(A)", "(B)"], "(B)"),
    (["12", "", "13", "13"], "13"),
    (["12", "", "", "", "13", "13"], ""),  # three samples state no answer: "no answer" wins the vote
    (["13", "", "", "13"], "13"),          # a tie goes to the answer sampled first
    (["7", "8"], "7"),
    (["", ""], ""),
    ([], ""),
])
def test_majority_vote(votes, winner):
  assert majority_vote(votes) == winner


def test_real_mmlu_headline_is_the_mean_over_its_57_subjects(shared_data, use_data):
  from tasks.evals import mmlu, names, registry
  use_data(shared_data)
  metas = [e.meta() for e in registry.examples(names.SETTINGS_BY_NAME["mmlu_direct"], names.VALIDATION)]
  out = metrics.summarize(metas, ["(A)"] * len(metas), registry.AGGREGATIONS["mmlu"])  # always answers (A)
  answers = {s: [row[5] for row in mmlu._rows(s, names.VALIDATION)] for s in names.MMLU_SUBJECTS}  # the CSVs
  per_subject = sum(100 * a.count("A") / len(a) for a in answers.values()) / 57
  per_example = 100 * sum(a.count("A") for a in answers.values()) / sum(len(a) for a in answers.values())
  assert out["score"] == pytest.approx(per_subject) and out[metrics.PER_EXAMPLE] == pytest.approx(per_example)
  assert abs(per_subject - per_example) > 0.1  # the two averages differ on the real val split
  assert out["normalized"] == pytest.approx(100 * (per_subject - 25) / 75)
