"""Registers the Flan 2022 collection with seqio, in two routes:

- from raw sources: one task per (dataset, format), the family submixtures, Proportions A and B and the
  Table 3 ladder (`flan2022_...`);
- from the released, pre-rendered collection: one task per (submix, template type), a mixture per submix,
  and the five submixes at the public code's rates or at Proportion A or B (`flan2022_released...`).

Every mixture is a `partial.FlanMixture` (missing sources: one error, or ALLOW_PARTIAL_MIXTURE). Registration
builds objects only: no file is opened and no network is used until a dataset is requested.
"""

import pathlib

import seqio

from flanx import vocab
from tasks.flan import cot, mixing, muffin, names, niv2, released, t0sf
from tasks.flan.metadata import TASKS  # filled here; inspect and data status read it as registry.TASKS
from tasks.flan.partial import FlanMixture
from tasks.flan.pipeline import FormattedSource
from tasks.flan.released import ReleasedTask
from tasks.flan.sources import Source

MINI_ROOT = pathlib.Path(__file__).resolve().parent / "mini"

SHUFFLE_BUFFER = 1000  # seqio's default, for full-size sources



def sources(mini: bool = False) -> list[Source]:
  families = (muffin, t0sf, cot, niv2)
  if mini:
    return [s for family in families for s in family.mini_sources(lambda: MINI_ROOT)]
  return [s for family in families for s in family.sources()]


def _add_seqio_task(meta: FormattedSource | ReleasedTask, num_examples: int | None) -> None:
  seqio.TaskRegistry.add(
      meta.task_name,
      source=seqio.FunctionDataSource(
          meta.dataset_fn, splits=("train",),
          num_input_examples={"train": num_examples} if num_examples is not None else None,
      ),
      preprocessors=[
          # Cache the formatted text (vocabulary-independent), then tokenize with the run's vocabulary.
          seqio.CacheDatasetPlaceholder(),
          seqio.preprocessors.tokenize,
          seqio.preprocessors.append_eos_after_trim,
      ],
      output_features=vocab.output_features(),
      metric_fns=[],
      # seqio's default buffer (1000) would replay a tiny source hundreds of times before its first example.
      shuffle_buffer_size=min(SHUFFLE_BUFFER, max(16, num_examples)) if num_examples is not None else SHUFFLE_BUFFER,
  )
  TASKS[meta.task_name] = meta


def _add_task(source: Source, fmt: str, mini: bool) -> FormattedSource:
  formatted = FormattedSource(source, fmt, names.task(source.family, source.dataset, fmt, mini=mini))
  _add_seqio_task(formatted, source.num_examples)
  return formatted


def _add_mixture(name: str, tasks_and_rates: list) -> None:
  seqio.MixtureRegistry.add(name, tasks_and_rates, mixture_cls=FlanMixture)


def _family_entry(t: FormattedSource) -> tuple[str, int, float]:
  return t.task_name, len(t.source.formats), t.source.rate_scale


def _add_proportional(name: str, tasks: list[FormattedSource], shares: dict[str, float]) -> None:
  families = {f: tuple(_family_entry(t) for t in tasks if t.source.family == f) for f in shares}
  _add_mixture(name, [
      (t.task_name, mixing.FamilyShareRate(t.source.family, len(t.source.formats), shares[t.source.family],
                                           families[t.source.family], t.source.rate_scale))
      for t in tasks if t.source.family in shares
  ])


def _capped_rate(task: FormattedSource) -> mixing.CappedRate:
  """A task's rate inside its family's submixtures: the family's cap, split over its source's formats."""
  return mixing.CappedRate(task.source.family, len(task.source.formats), task.source.rate_scale)


def register(mini: bool) -> list[FormattedSource]:
  tasks = [_add_task(s, fmt, mini) for s in sources(mini) for fmt in s.formats]
  for family in names.FAMILIES:
    members = [t for t in tasks if t.source.family == family]
    _add_mixture(names.family_mixture(family, mini=mini), [(t.task_name, _capped_rate(t)) for t in members])
    for fmt in sorted({t.fmt for t in members}):
      _add_mixture(names.family_mixture(family, fmt, mini=mini),
                   [(t.task_name, _capped_rate(t)) for t in members if t.fmt == fmt])
  if mini:
    _add_proportional(names.MINI, tasks, mixing.normalised(mixing.PROPORTION_B, names.FAMILIES))
    return tasks
  for variant in names.PROPORTIONS:
    _add_proportional(names.proportion(variant), tasks, mixing.normalised(mixing.PROPORTIONS[variant], names.FAMILIES))
  for ladder_name, families in names.LADDER:
    _add_proportional(ladder_name, tasks, mixing.normalised(mixing.PROPORTION_A, families))
  return tasks


def register_released() -> list[ReleasedTask]:
  """The released collection: its tasks, a mixture per submix, and the five submixes mixed three ways."""
  tasks = {(s.submix, s.template_type): ReleasedTask(s, names.released_task(s.submix, s.template_type))
           for s in released.sources()}
  for task in tasks.values():
    _add_seqio_task(task, None)

  def mixed(submix_shares: dict[str, float]) -> list[tuple[str, float]]:
    """Each submix's share split evenly over the template types the public code mixes for it."""
    return [(tasks[s, tt].task_name, share / len(mixing.SUBMIX_TEMPLATE_TYPES[s]))
            for s, share in submix_shares.items() for tt in mixing.SUBMIX_TEMPLATE_TYPES[s]]

  for submix in names.SUBMIXES:
    _add_mixture(names.released_submix(submix), mixed({submix: 1.0}))
  _add_mixture(names.released_mixture(), mixed(mixing.SUBMIX_RATES))
  for variant in names.PROPORTIONS:
    _add_mixture(names.released_mixture(variant), mixed(mixing.submix_shares(mixing.PROPORTIONS[variant])))
  return list(tasks.values())
