"""Input and decode lengths per setting: prompts that fit without losing their question, and a decode budget that
lets a chain as long as its exemplars' reach its answer.

Inputs. By default a setting's input length is its longest prompt (T5's relative positions and PaLM's rotary
ones take any length); a model whose context is shorter (max_input_length) or an input length set by the user
caps it. A prompt over the cap loses whole exemplars from its start until it fits (`fit`; seqio alone would trim
from the right and cut the question). A query that does not fit even alone keeps its end (`keep_end`), the
question and the answer cue, and is counted as cut.

Decoding. The budget is the longest exemplar answer (or target) plus a margin (`decode_length`); how many outputs
used all of it is counted by the evaluator.
"""

import dataclasses
import json
import math
from collections.abc import Sequence

import seqio
import tensorflow as tf

# Decode budget = longest exemplar answer + max(MIN_MARGIN, MARGIN x that answer) + 1 for EOS.
MARGIN, MIN_MARGIN = 0.25, 32


def token_count(text: str, vocabulary: seqio.Vocabulary, add_eos: bool = True) -> int:
  return len(vocabulary.encode(text)) + int(add_eos)


@dataclasses.dataclass(frozen=True)
class Fitted:
  inputs: str
  tokens: int     # EOS included
  dropped: int    # exemplars dropped from the start
  fits: bool      # False: over the budget even with every exemplar dropped


def fit(inputs: str, shot_starts: Sequence[int], budget: int | None, vocabulary: seqio.Vocabulary,
        add_eos: bool = True) -> Fitted:
  """`inputs` with the fewest whole exemplars dropped from its start (after the header) that make it at most
  `budget` tokens. shot_starts: EvalExample.shot_starts (each exemplar's start, then the query's)."""
  n = token_count(inputs, vocabulary, add_eos)
  if budget is None or n <= budget or len(shot_starts) < 2:
    return Fitted(inputs, n, 0, budget is None or n <= budget)

  def dropping(k: int) -> tuple[str, int]:
    text = inputs[:shot_starts[0]] + inputs[shot_starts[k]:]
    return text, token_count(text, vocabulary, add_eos)

  # Dropping more never lengthens the prompt: bisect for the fewest drops that fit (8 shots: 3 encodings, not 8).
  low, high = 1, len(shot_starts) - 1
  best = dropping(high)
  if best[1] > budget:
    return Fitted(*best, high, False)
  while low < high:
    mid = (low + high) // 2
    text, count = dropping(mid)
    if count <= budget:
      high, best = mid, (text, count)
    else:
      low = mid + 1
  return Fitted(*best, high, True)


@dataclasses.dataclass(frozen=True)
class PromptReport:
  """One setting's prompts against its input length."""
  input_length: int
  total: int
  longest: int                       # tokens of the longest prompt as built (every exemplar), EOS included
  over: int                          # prompts longer than input_length as built
  lost_exemplars: int                # of those, prompts that fit after dropping exemplars
  lost_exemplars_by_group: dict[str, int]
  cut: int                           # prompts over input_length even with no exemplar: only their end is kept

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


def plan_inputs(examples: Sequence[dict], vocabulary: seqio.Vocabulary, input_length: int | None = None,
                max_input_length: int | None = None, add_eos: bool = True) -> PromptReport:
  """The input length of a setting (Setting.examples) and what fitting its prompts to it costs.

  input_length: the user's; None sizes it to the longest prompt. max_input_length: the model's context (None: any
  length); it caps either.
  """
  counts = [token_count(ex["inputs"], vocabulary, add_eos) for ex in examples]
  longest = max(counts, default=1)
  length = longest if input_length is None else input_length
  if max_input_length is not None:
    length = min(length, max_input_length)
  lost: dict[str, int] = {}
  over = cut = 0
  for ex, n in zip(examples, counts):
    if n <= length:
      continue
    over += 1
    fitted = fit(ex["inputs"], ex["meta"].get("shot_starts", ()), length, vocabulary, add_eos)
    if fitted.fits:
      lost[ex["meta"]["group"]] = lost.get(ex["meta"]["group"], 0) + 1
    else:
      cut += 1
  return PromptReport(length, len(examples), longest, over, sum(lost.values()), lost, cut)


def decode_length(examples: Sequence[dict], vocabulary: seqio.Vocabulary) -> tuple[int, int]:
  """(budget, longest answer): the longest exemplar answer or target in tokens, plus the margin and EOS."""
  texts = {a for ex in examples for a in ex["meta"].get("exemplar_answers", ())}
  texts |= {ex["targets"] for ex in examples}
  longest = max((token_count(t, vocabulary, add_eos=False) for t in texts), default=0)
  return longest + max(MIN_MARGIN, math.ceil(MARGIN * longest)) + 1, longest


# --- seqio preprocessors: the same fitting inside the task's pipeline ---------------------------------------------

def fit_exemplars(dataset: tf.data.Dataset, sequence_length: dict | None, output_features) -> tf.data.Dataset:
  """Before tokenisation: each prompt longer than sequence_length['inputs'] loses exemplars from its start (fit).
  Examples carry EvalExample's JSON `meta`; without an input length nothing changes."""
  budget = (sequence_length or {}).get("inputs")
  if budget is None:
    return dataset
  feature = output_features["inputs"]

  def fitted(inputs: bytes, meta: bytes) -> bytes:
    starts = json.loads(meta).get("shot_starts", ())
    return fit(inputs.decode("utf-8"), starts, budget, feature.vocabulary, feature.add_eos).inputs.encode("utf-8")

  def map_fn(ex):
    text = tf.numpy_function(fitted, [ex["inputs"], ex["meta"]], tf.string, stateful=False)
    return {**ex, "inputs": tf.ensure_shape(text, [])}
  return dataset.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def keep_end(dataset: tf.data.Dataset, sequence_length: dict | None, output_features) -> tf.data.Dataset:
  """After tokenisation: a prompt still too long keeps its last tokens (the question and its answer cue), not its
  first as seqio's trimming would. Before append_eos_after_trim, which then has nothing left to trim."""
  budget = (sequence_length or {}).get("inputs")
  if budget is None:
    return dataset
  keep = budget - int(output_features["inputs"].add_eos)
  return dataset.map(lambda ex: {**ex, "inputs": ex["inputs"][-keep:]})
