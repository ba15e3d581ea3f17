"""Which prompts fit the model's input length: the count over a token budget, per setting and group."""

import collections
import dataclasses

import seqio

from tasks.evals import names, registry


@dataclasses.dataclass(frozen=True)
class LengthReport:
  setting: str
  total: int
  over: int                    # prompts longer than the budget (they would be truncated from the right)
  longest: int                 # tokens, EOS included
  over_by_group: dict[str, int]


def count_overlong(setting: str, budget: int, vocabulary: seqio.Vocabulary, split: str = names.VALIDATION,
                   add_eos: bool = True) -> LengthReport:
  """Tokenises every prompt of `setting` with `vocabulary` and counts those longer than `budget` tokens."""
  s = names.SETTINGS_BY_NAME[setting]
  over, longest, total = collections.Counter(), 0, 0
  for ex in registry.examples(s, split):
    n = len(vocabulary.encode(ex.inputs)) + int(add_eos)
    total, longest = total + 1, max(longest, n)
    if n > budget:
      over[ex.group] += 1
  return LengthReport(setting, total, sum(over.values()), longest, dict(over))
