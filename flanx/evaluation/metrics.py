"""Per-example correctness and per-setting scores (percent) for the held-out benchmarks.

Each example's `meta` (see example.py) says how it is compared: exact match of the extracted answer with any
accepted answer (already in compared form), or SQuAD v1.1 EM/F1 for "span" answers.
"""

import collections
import dataclasses
from collections.abc import Sequence

from flanx.evaluation import answers, normalized, squad


def score_example(answer: str, meta: dict) -> dict[str, float]:
  """{'correct': 0/1} and, for span answers, {'em', 'f1'} in percent; `answer` is already extracted."""
  gold = meta["gold"]
  if meta["rule"]["format"] == answers.SPAN:
    em, f1 = 100 * squad.best(squad.exact_match, answer, gold), 100 * squad.best(squad.f1, answer, gold)
    return {"correct": float(em == 100), "em": em, "f1": f1}
  return {"correct": float(bool(answer) and answer in gold)}


@dataclasses.dataclass(frozen=True)
class Aggregation:
  """How a setting's headline is formed from its examples.

  The headline ('score', and 'normalized' from it) is the unweighted mean over groups (MMLU subjects, BBH
  subtasks, TyDiQA and MGSM languages); 'score_per_example', the mean over all examples, is reported beside
  it (MMLU's authors report that one; docs/evaluation.md says why flanx's headline is per subject).
  headline_groups restricts which groups enter both means (MGSM: the 10 translated languages); others are still
  reported per group.
  """
  headline_groups: tuple[str, ...] | None = None
  key: str = "correct"  # which per-example score is the headline ("em" for TyDiQA)


PER_EXAMPLE = "score_per_example"  # no "/": keys with one are per group


def _mean(xs) -> float:
  xs = list(xs)
  return sum(xs) / len(xs) if xs else 0.0


def summarize(metas: Sequence[dict], answers_: Sequence[str], agg: Aggregation) -> dict[str, float]:
  """Setting metrics: 'score', 'score_per_example', 'normalized', 'random', 'count', and '<key>/<group>' per
  group, all in percent."""
  by_group: dict[str, list[dict]] = collections.defaultdict(list)
  chance: dict[str, list[float]] = collections.defaultdict(list)
  for meta, answer in zip(metas, answers_, strict=True):
    s = score_example(answer, meta)
    s["correct"] *= 100
    by_group[meta["group"]].append(s)
    chance[meta["group"]].append(100 * meta["chance"])
  out: dict[str, float] = {"count": float(len(metas))}
  group_score, group_random = {}, {}
  for group, scores in sorted(by_group.items()):
    for key in scores[0]:
      out[f"{key}/{group}"] = _mean(s[key] for s in scores)
    group_score[group], group_random[group] = out[f"{agg.key}/{group}"], _mean(chance[group])
  headline = [g for g in group_score if agg.headline_groups is None or g in agg.headline_groups]
  out["score"] = _mean(group_score[g] for g in headline)
  out[PER_EXAMPLE] = _mean(s[agg.key] for g in headline for s in by_group[g])
  out["random"] = _mean(group_random[g] for g in headline)
  out["normalized"] = _mean(normalized.normalize(group_score[g], group_random[g]) for g in headline)
  if agg.key == "em":
    out["f1"] = _mean(out[f"f1/{g}"] for g in headline)
  return out
