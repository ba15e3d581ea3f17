"""The Flan formats: one raw example (+ exemplars of the same task) -> an (inputs, targets) pair.

All randomness (template, option style, delimiters, exemplar order) comes from the `rng` the caller passes,
so the caller decides what "same seed" means; the task pipeline seeds it per example.
"""

import dataclasses
import random
import re
from collections.abc import Callable, Mapping, Sequence

from flanx.templates import library
from flanx.templates.options import OPTION_STYLES, OptionStyle, render_options

# Inputs are 2048 tokens in the public recipe; exemplars are pruned to leave room for the target prefix.
INPUT_BUDGET = 1920
MAX_SHOTS = 5

# Few-shot delimiter pairs, one drawn per example.
DELIMITERS: tuple[tuple[str, str], ...] = (
    ("Q:", "A:"),
    ("Question:", "Answer:"),
    ("Input:", "Output:"),
    ("Problem:", "Solution:"),
    ("Query:", "Response:"),
    ("Request:", "Reply:"),
)
SEPARATORS: tuple[str, ...] = ("\n\n", "\n\n\n")


@dataclasses.dataclass(frozen=True)
class Format:
  name: str
  few_shot: bool = False
  options: bool = False
  cot: bool = False
  inverted: bool = False


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("zs_opt", options=True),
    Format("zs_noopt"),
    Format("fs_opt", few_shot=True, options=True),
    Format("fs_noopt", few_shot=True),
    Format("cot_zs", cot=True),
    Format("cot_fs", few_shot=True, cot=True),
    Format("inverted", inverted=True),
)}


@dataclasses.dataclass(frozen=True)
class Rendered:
  inputs: str
  targets: str
  template: int
  num_shots: int = 0


# "Question: Question: ..." arises when a template or a few-shot delimiter labels a field whose text already
# starts with the same label (P3 prompts, CoT inputs such as "Claim: ..."). One label is kept.
_DOUBLED_LABEL = re.compile(r"\b([A-Za-z][A-Za-z0-9 ]{0,30}):\s*\1:[ \t]*", re.IGNORECASE)


def _tidy(text: str) -> str:
  return _DOUBLED_LABEL.sub(r"\1: ", text).strip()


def render(
    example: Mapping,
    task_type: str,
    fmt: Format,
    rng: random.Random,
    exemplars: Sequence[Mapping] = (),
    count_tokens: Callable[[str], int] = len,
    budget: int = INPUT_BUDGET,
) -> Rendered:
  """Renders `example` in `fmt`. `exemplars` must come from the same task; they use the same template."""
  templates = library.templates_for(task_type)
  index = rng.randrange(len(templates))
  template = templates[index]
  with_options = fmt.options and library.TASK_TYPES[task_type].has_options and bool(example.get("options"))
  style = rng.choice(OPTION_STYLES) if with_options else None

  def one(ex: Mapping) -> tuple[str, str]:
    inputs, targets = template.inputs.format(**ex), template.targets.format(**ex)
    if style is not None:
      # Letters run out after Z (ReCoRD lists dozens of entities): such a list is numbered instead.
      fitting = style if style.fits(len(ex["options"])) else OptionStyle(style.header, "paren_number")
      block, targets = render_options(list(ex["options"]), ex["answer"], fitting)
      inputs = f"{inputs}\n\n{block}"
    return _tidy(inputs), _tidy(targets)

  if fmt.inverted:
    inputs, targets = one(example)
    index = rng.randrange(len(library.INVERSION))
    inversion = library.INVERSION[index]
    return Rendered(_tidy(inversion.inputs.format(answer=targets)), _tidy(inversion.targets.format(inputs=inputs)), index)

  inputs, targets = one(example)
  if not fmt.few_shot:
    return Rendered(inputs, targets, index)

  question, answer = rng.choice(DELIMITERS)
  separator = rng.choice(SEPARATORS)
  pool = list(exemplars)
  rng.shuffle(pool)
  shots = [f"{question} {x}\n{answer} {y}" for x, y in map(one, pool[:MAX_SHOTS])]
  query = f"{question} {inputs}\n{answer}"
  # Drop shots from the end until the whole prompt fits the input budget.
  while shots and count_tokens(separator.join(shots + [query])) > budget:
    shots.pop()
  return Rendered(_tidy(separator.join(shots + [query])), targets, index, len(shots))
