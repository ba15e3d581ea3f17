"""Registers one seqio task per (dataset, format), the family submixtures and the Flan 2022 mixtures.

Registration builds objects only: no file is opened and no network is used until a dataset is requested.
"""

import pathlib

import seqio

from flanx import vocab
from tasks.flan import cot, mixing, muffin, names, niv2, t0sf
from tasks.flan.pipeline import FormattedSource
from tasks.flan.sources import Source

MINI_ROOT = pathlib.Path(__file__).resolve().parent / "mini"

SHUFFLE_BUFFER = 1000  # seqio's default, for full-size sources

# task name -> what it renders; `flanx.inspect` and `flanx data status` read metadata from here.
TASKS: dict[str, FormattedSource] = {}


def sources(mini: bool = False) -> list[Source]:
  families = (muffin, t0sf, cot, niv2)
  if mini:
    return [s for family in families for s in family.mini_sources(lambda: MINI_ROOT)]
  return [s for family in families for s in family.sources()]


def _add_task(source: Source, fmt: str, mini: bool) -> FormattedSource:
  formatted = FormattedSource(source, fmt, names.task(source.family, source.dataset, fmt, mini=mini))
  seqio.TaskRegistry.add(
      formatted.task_name,
      source=seqio.FunctionDataSource(
          formatted.dataset_fn, splits=("train",), num_input_examples={"train": source.num_examples}
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
      shuffle_buffer_size=min(SHUFFLE_BUFFER, max(16, source.num_examples)),
  )
  TASKS[formatted.task_name] = formatted
  return formatted


def _family_entry(t: FormattedSource) -> tuple[str, int]:
  return t.task_name, len(t.source.formats)


def _add_proportional(name: str, tasks: list[FormattedSource], shares: dict[str, float]) -> None:
  families = {f: tuple(_family_entry(t) for t in tasks if t.source.family == f) for f in shares}
  seqio.MixtureRegistry.add(name, [
      (t.task_name, mixing.FamilyShareRate(t.source.family, len(t.source.formats), shares[t.source.family],
                                           families[t.source.family]))
      for t in tasks if t.source.family in shares
  ])


def register(mini: bool) -> list[FormattedSource]:
  tasks = [_add_task(s, fmt, mini) for s in sources(mini) for fmt in s.formats]
  for family in names.FAMILIES:
    members = [t for t in tasks if t.source.family == family]
    rate = lambda t: mixing.CappedRate(family, len(t.source.formats))  # noqa: E731
    seqio.MixtureRegistry.add(names.family_mixture(family, mini=mini), [(t.task_name, rate(t)) for t in members])
    for fmt in sorted({t.fmt for t in members}):
      seqio.MixtureRegistry.add(names.family_mixture(family, fmt, mini=mini),
                                [(t.task_name, rate(t)) for t in members if t.fmt == fmt])
  if mini:
    _add_proportional(names.MINI, tasks, mixing.normalised(mixing.PROPORTION_B, names.FAMILIES))
    return tasks
  for variant in names.PROPORTIONS:
    _add_proportional(names.proportion(variant), tasks, mixing.normalised(mixing.PROPORTIONS[variant], names.FAMILIES))
  for ladder_name, families in names.LADDER:
    _add_proportional(ladder_name, tasks, mixing.normalised(mixing.PROPORTION_A, families))
  return tasks
