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
# Few-shot shapes of the public collection. "Mixed five-shot": five exemplars, each with its own template.
# "x-shot": 25 candidate exemplars, each with a random template, of which only those sharing the query's
# template are kept (2.5 on average with ten templates; an example left with none is not used, so the count
# is drawn again). The public mixtures list both shapes for Opt few-shot and x-shot alone for NoOpt
# (`mix_five_share`).
MIX_SHOTS = 5
X_SHOT_CANDIDATES = 25
# At most this many shots are rendered (x-shot can draw more): exemplars come from a window of this size.
MAX_SHOTS = 8

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
  template: int  # index into the task type's templates; len(templates) + i for input-inversion template i
  num_shots: int = 0
  shape: str = ""  # few-shot shape: "mix5" or "xshot" ("" when zero-shot)


# "Question: Question: ..." arises when a template or a few-shot delimiter labels a field whose text already
# starts with the same label (P3 prompts, CoT inputs such as "Claim: ..."). One label is kept.
_DOUBLED_LABEL = re.compile(r"\b([A-Za-z][A-Za-z0-9 ]{0,30}):\s*\1:[ \t]*", re.IGNORECASE)


def _tidy(text: str) -> str:
  return _DOUBLED_LABEL.sub(r"\1: ", text).strip()


def num_templates(task_type: str) -> int:
  """Template ids of a task type: its own templates, then (if it is inverted) one id per inversion template."""
  own = len(library.templates_for(task_type))
  return own + (len(library.INVERSION) if task_type in library.INVERTED_TYPES else 0)


def draw_template(task_type: str, rng: random.Random) -> int:
  """A template id. An inverted type draws its input-inversion slot as one of its own templates (one in
  len(templates) + 1, as Flan 2021 lists about one inversion among each dataset's ten templates), then one of
  the inversion templates."""
  own = len(library.templates_for(task_type))
  if task_type not in library.INVERTED_TYPES:
    return rng.randrange(own)
  index = rng.randrange(own + 1)
  return index if index < own else own + rng.randrange(len(library.INVERSION))


def mix_five_share(fmt: Format, task_type: str) -> float:
  """The share of mixed five-shot examples in a few-shot format (the rest are x-shot). Opt few-shot lists both
  shapes: one half. CoT's few-shot is the public code's Opt few-shot (its only one): one half. A type without
  options has one few-shot format standing for both of the public code's (the same records there): one quarter.
  NoOpt few-shot of a type with options: none."""
  if fmt.options or fmt.cot:
    return 0.5
  return 0.0 if library.TASK_TYPES[task_type].has_options else 0.25


def shot_plan(fmt: Format, task_type: str, rng: random.Random) -> tuple[str, int]:
  """(shape, number of exemplars asked for) of one few-shot example (see MIX_SHOTS)."""
  if rng.random() < mix_five_share(fmt, task_type):
    return "mix5", MIX_SHOTS
  p = 1.0 / (len(library.templates_for(task_type)) + (1 if task_type in library.INVERTED_TYPES else 0))
  while True:
    count = sum(rng.random() < p for _ in range(X_SHOT_CANDIDATES))
    if count:
      return "xshot", count


def render(
    example: Mapping,
    task_type: str,
    fmt: Format,
    rng: random.Random,
    exemplars: Sequence[Mapping] = (),
    count_tokens: Callable[[str], int] = len,
    budget: int = INPUT_BUDGET,
) -> Rendered:
  """Renders `example` in `fmt`. `exemplars` must come from the same task."""
  templates = library.templates_for(task_type)
  index = draw_template(task_type, rng)
  if fmt.inverted and task_type in library.INVERTED_TYPES and index < len(templates):
    index = len(templates) + rng.randrange(len(library.INVERSION))  # the inverted format always inverts
  with_options = fmt.options and library.TASK_TYPES[task_type].has_options and bool(example.get("options"))
  style = rng.choice(OPTION_STYLES) if with_options else None

  def one(ex: Mapping, template_id: int) -> tuple[str, str]:
    if template_id >= len(templates):  # input inversion: produce the input from the (option-free) target
      source = templates[template_id % len(templates)]
      inputs, targets = source.inputs.format(**ex), source.targets.format(**ex)
      inversion = library.INVERSION[template_id - len(templates)]
      return _tidy(inversion.inputs.format(answer=targets)), _tidy(inversion.targets.format(inputs=inputs))
    template = templates[template_id]
    inputs, targets = template.inputs.format(**ex), template.targets.format(**ex)
    if style is not None:
      # Letters run out after Z (ReCoRD lists dozens of entities): such a list is numbered instead.
      fitting = style if style.fits(len(ex["options"])) else OptionStyle(style.header, "paren_number")
      block, targets = render_options(list(ex["options"]), ex["answer"], fitting)
      inputs = f"{inputs}\n\n{block}"
    return _tidy(inputs), _tidy(targets)

  inputs, targets = one(example, index)
  if not fmt.few_shot:
    return Rendered(inputs, targets, index)

  shape, wanted = shot_plan(fmt, task_type, rng)
  question, answer = rng.choice(DELIMITERS)
  separator = rng.choice(SEPARATORS)
  pool = list(exemplars)
  rng.shuffle(pool)
  pool = pool[:min(wanted, MAX_SHOTS)]
  # x-shot exemplars share the query's template; mixed five-shot draws one per exemplar.
  ids = [draw_template(task_type, rng) if shape == "mix5" else index for _ in pool]
  shots = [f"{question} {x}\n{answer} {y}" for x, y in (one(ex, i) for ex, i in zip(pool, ids))]
  query = f"{question} {inputs}\n{answer}"
  # Drop shots from the end until the whole prompt fits the input budget.
  while shots and count_tokens(separator.join(shots + [query])) > budget:
    shots.pop()
  return Rendered(_tidy(separator.join(shots + [query])), targets, index, len(shots), shape)
