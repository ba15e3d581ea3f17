"""Which prompts fit the model's input length: the count over a token budget, per setting and group."""

import collections
import dataclasses
from collections.abc import Sequence

import seqio


@dataclasses.dataclass(frozen=True)
class LengthReport:
  total: int
  over: int                    # prompts longer than the budget (they would be truncated from the right)
  longest: int                 # tokens, EOS included
  over_by_group: dict[str, int]


def count_overlong(examples: Sequence[dict], budget: int, vocabulary: seqio.Vocabulary,
                   add_eos: bool = True) -> LengthReport:
  """Tokenises every prompt (Setting.examples) with `vocabulary` and counts those longer than `budget` tokens."""
  over, longest = collections.Counter(), 0
  for ex in examples:
    n = len(vocabulary.encode(ex["inputs"])) + int(add_eos)
    longest = max(longest, n)
    if n > budget:
      over[ex["meta"]["group"]] += 1
  return LengthReport(len(examples), sum(over.values()), longest, dict(over))
