"""Self-consistency (Wang et al. 2022): sample several chains of thought, extract each answer, majority vote.

The sampling is the model's: `sample_fn(dataset, num_samples, temperature)` returns, for each enumerated
example, `num_samples` token sequences. `predict_fn()` turns it into a seqio predict_fn whose outputs are
a list of num_samples token lists per example; the eval tasks' postprocessor votes over a list of outputs.
"""

import collections
import inspect
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
  """A seqio predict_fn drawing `num_samples` outputs per prompt at `temperature`.

  Both are settings: the Flan paper does not give them. The defaults, 40 samples at 0.7, are what Wang et al.
  used for PaLM 540B (they also kept only the top 40 tokens, which heldout.ModelFns.sample does not).
  """
  if num_samples < 1 or temperature < 0:
    raise ValueError(f"self-consistency needs num_samples >= 1 and temperature >= 0, got {num_samples}, {temperature}")

  def fn(dataset, max_length: int | None = None):
    # The evaluator's decode budget reaches a sample_fn that takes one (flanx.heldout.ModelFns.sample does).
    extra = {"max_length": max_length} if max_length is not None and takes_max_length(sample_fn) else {}
    return [(int(index), [list(s) for s in samples])
            for index, samples in sample_fn(dataset, num_samples=num_samples, temperature=temperature, **extra)]
  return fn


def takes_max_length(fn) -> bool:
  """Whether a predict/sample fn takes the decode budget as a keyword `max_length`."""
  try:
    return "max_length" in inspect.signature(fn).parameters
  except (TypeError, ValueError):
    return False
