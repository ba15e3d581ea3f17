"""Self-consistency (Wang et al. 2022): sample several chains of thought, extract each answer, majority vote.

The sampling is the model's: `sample_fn(dataset, num_samples, temperature)` returns, for each enumerated
example, `num_samples` token sequences. `predict_fn()` turns it into a seqio predict_fn whose outputs are
a list of num_samples token lists per example; the eval tasks' postprocessor votes over a list of outputs.
"""

import collections
from collections.abc import Callable, Sequence

import gin

SampleFn = Callable[..., Sequence[tuple[int, Sequence[Sequence[int]]]]]


def majority_vote(answers: Sequence[str]) -> str:
  """The most common answer, a tie going to the answer sampled first.

  A sample from which no answer was extracted ('') votes for "no answer", and "no answer" can win: Wang et al.
  take the most frequent parsed answer over all sampled paths, and a path that states none is still a path.
  """
  counts = collections.Counter(answers)
  if not counts:
    return ""
  top = max(counts.values())
  return next(a for a in answers if counts[a] == top)


@gin.configurable(denylist=["sample_fn"])
def predict_fn(sample_fn: SampleFn, num_samples: int = 40, temperature: float = 0.7):
  """A seqio predict_fn drawing `num_samples` outputs per prompt at `temperature` (40 at 0.7, as Wang et al.)."""
  if num_samples < 1 or temperature < 0:
    raise ValueError(f"self-consistency needs num_samples >= 1 and temperature >= 0, got {num_samples}, {temperature}")

  def fn(dataset):
    return [(int(index), [list(s) for s in samples])
            for index, samples in sample_fn(dataset, num_samples=num_samples, temperature=temperature)]
  return fn
