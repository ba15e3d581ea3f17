"""The normalised average against the paper's Table 5 (flan-facts.md).

Finding: no single random baseline per column reproduces every published Norm. avg within rounding. MMLU 25,
TyDiQA 0, MGSM 0 and BBH = 26.6 (the mean of BBH's 27 per-subtask chance levels, see normalized.py) give every
row within 1.1 (T5-Small is the worst, 1.02 off), and the Flan-T5 rows within 0.2. A grid search over constant
(MMLU, BBH) baselines gets no better than 0.7 on the worst row, so the paper must have normalised per subtask
(BBH, perhaps MMLU subjects), which per-column aggregates cannot replay. flanx normalises BBH per subtask.
"""

import pytest

from flanx.evaluation.normalized import normalize, normalized_average

COLUMNS = ("MMLU-Direct", "MMLU-CoT", "BBH-Direct", "BBH-CoT", "TyDiQA", "MGSM")
TABLE5 = {  # model: (norm avg, six scores)
    "T5-Small": (-9.2, (26.7, 5.6, 27.0, 7.2, 0.0, 0.4)),
    "Flan-T5-Small": (-3.1, (28.7, 12.1, 29.1, 19.2, 1.1, 0.2)),
    "T5-Base": (-5.1, (25.7, 14.5, 27.8, 14.6, 0.0, 0.5)),
    "Flan-T5-Base": (6.5, (35.9, 33.7, 31.3, 27.9, 4.1, 0.4)),
    "T5-Large": (-5.0, (25.1, 15.0, 27.7, 16.1, 0.0, 0.3)),
    "Flan-T5-Large": (13.8, (45.1, 40.5, 37.5, 31.5, 12.3, 0.7)),
    "T5-XL": (-4.1, (25.7, 14.5, 27.4, 19.2, 0.0, 0.8)),
    "Flan-T5-XL": (19.1, (52.4, 45.5, 41.0, 35.2, 16.6, 1.9)),
    "T5-XXL": (-2.9, (25.9, 18.7, 29.5, 19.3, 0.0, 1.0)),
    "Flan-T5-XXL": (23.7, (55.1, 48.6, 45.3, 41.4, 19.0, 4.9)),
    "PaLM 8B": (6.4, (24.3, 24.1, 30.8, 30.1, 25.0, 3.4)),
    "Flan-PaLM 8B": (21.9, (49.3, 41.3, 36.4, 31.1, 47.5, 8.2)),
    "PaLM 62B": (28.4, (55.1, 49.0, 37.4, 43.0, 40.5, 18.2)),
    "Flan-PaLM 62B": (38.8, (59.6, 56.9, 47.5, 44.9, 58.7, 28.5)),
    "PaLM 540B": (49.1, (71.3, 62.9, 49.1, 63.7, 52.9, 45.9)),
    "Flan-PaLM 540B": (58.4, (73.5, 70.9, 57.9, 66.3, 67.8, 57.0)),
}
BBH_MEAN_CHANCE = 26.6  # mean over the 27 subtasks of 1/options (labels: 1/2, free-form: 0), from the real data
RANDOM = dict(zip(COLUMNS, (25.0, 25.0, BBH_MEAN_CHANCE, BBH_MEAN_CHANCE, 0.0, 0.0)))


def _norm_avg(scores, randoms=RANDOM):
  return normalized_average(dict(zip(COLUMNS, scores)), randoms)


def test_normalize_definition():
  assert normalize(25, 25) == 0 and normalize(100, 25) == 100 and normalize(10, 25) == -20 and normalize(7, 0) == 7
  with pytest.raises(ValueError):
    normalize(50, 100)


@pytest.mark.parametrize("model", TABLE5)
def test_reproduces_published_norm_avg_within_about_one_point(model):
  published, scores = TABLE5[model]
  assert _norm_avg(scores) == pytest.approx(published, abs=1.1)


@pytest.mark.parametrize("model", ["Flan-T5-Base", "Flan-T5-Large", "Flan-T5-XL", "Flan-T5-XXL", "Flan-T5-Small"])
def test_flan_t5_rows_within_rounding_slack(model):
  published, scores = TABLE5[model]
  assert _norm_avg(scores) == pytest.approx(published, abs=0.2)


def test_ignoring_random_baselines_does_not_reproduce():
  zero = dict.fromkeys(COLUMNS, 0.0)
  assert all(abs(_norm_avg(s, zero) - p) > 4 for p, s in TABLE5.values())


def test_bbh_mean_chance_matches_real_files(shared_data, use_data):
  from tasks.evals import bbh, names
  use_data(shared_data)
  per_task = []
  for task in names.BBH_TASKS:
    rows = bbh.load_task(task)
    per_task.append(100 * sum(bbh.chance(task, r["input"]) for r in rows) / len(rows))
  assert sum(per_task) / len(per_task) == pytest.approx(BBH_MEAN_CHANCE, abs=0.05)
