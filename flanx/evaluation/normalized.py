"""The paper's normalised average: each score rescaled against random guessing, then macro-averaged.

normalised = 100 * (score - random) / (100 - random), as BIG-bench does: 0 is chance, 100 is perfect, and a model
below chance goes negative. Random baselines: MMLU 25 (four options), TyDiQA 0 and MGSM 0 (free-form answers);
BBH is normalised per subtask against that subtask's own chance (1 / options, 0 when free-form) and the 27
normalised scores are averaged, so the BBH column's effective baseline is not a single constant.
"""

from collections.abc import Mapping


def normalize(score: float, random: float) -> float:
  """`score` and `random` in percent."""
  if random >= 100:
    raise ValueError(f"random baseline {random} leaves no room above chance")
  return 100.0 * (score - random) / (100.0 - random)


def normalized_average(scores: Mapping[str, float], randoms: Mapping[str, float]) -> float:
  """Mean of normalize(scores[c], randoms[c]) over the columns c of `scores`."""
  if not scores:
    raise ValueError("no scores to average")
  return sum(normalize(s, randoms[c]) for c, s in scores.items()) / len(scores)
