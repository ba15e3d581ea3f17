"""SQuAD v1.1 answer normalisation, exact match and F1, as the official v1.1 evaluation script defines them.

Per question, each score is the maximum over the gold answers; the dataset score is the mean over questions x 100.
"""

import collections
import re
import string

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
  """Lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace (this order)."""
  s = s.lower()
  s = "".join(ch for ch in s if ch not in _PUNCTUATION)
  s = _ARTICLES.sub(" ", s)
  return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> float:
  return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
  pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
  common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
  overlap = sum(common.values())
  if overlap == 0:
    return 0.0
  precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
  return 2 * precision * recall / (precision + recall)


def best(metric, prediction: str, golds) -> float:
  """The v1.1 script's metric_max_over_ground_truths."""
  return max(metric(prediction, g) for g in golds)
