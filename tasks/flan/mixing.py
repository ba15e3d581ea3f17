"""Mixing rates: examples-proportional within a family with per-task caps, fixed shares across families.

A (dataset, format) task gets seqio's `mixing_rate_num_examples(maximum=cap/k, scale=1/k)` for a dataset with
k formats, so a dataset's formats together weigh min(examples, cap). A family's tasks are then scaled so that
they sum to the family's share. Rates are computed from declared sizes (tasks' `num_input_examples`) or from
seqio's cached statistics once tasks are cached; no data is read.
"""

import dataclasses
import functools

import seqio
from absl import logging

from tasks.flan.metadata import TASKS

CAPS: dict[str, int] = {"muffin": 30_000, "t0sf": 20_000, "cot": 100_000, "niv2": 5_000}
PROPORTION_A: dict[str, float] = {"muffin": 52.0, "t0sf": 15.0, "cot": 3.0, "niv2": 30.0}
PROPORTION_B: dict[str, float] = {"muffin": 46.0, "t0sf": 27.9, "cot": 1.8, "niv2": 24.2}
PROPORTIONS: dict[str, dict[str, float]] = {"a": PROPORTION_A, "b": PROPORTION_B}

# The released collection's submixes. The public Flan code mixes them at these rates (its flan2022_submix
# mixture, whose niv2 line is commented out in run_example.py although the five rates only sum to 1 with it;
# the collection's README says to mix all five), and mixes each submix's template types in equal parts.
SUBMIX_RATES: dict[str, float] = {"flan2021": 0.40, "t0": 0.32, "niv2": 0.20, "cot": 0.05, "dialog": 0.03}
SUBMIX_TEMPLATE_TYPES: dict[str, tuple[str, ...]] = {
    "flan2021": ("zs_opt", "zs_noopt", "fs_opt", "fs_noopt"),
    "t0": ("zs_opt", "zs_noopt", "fs_opt", "fs_noopt"),
    # These have no answer options, so the code mixes only the "opt" variants (they equal the "noopt" ones).
    "niv2": ("zs_opt", "fs_opt"),
    "cot": ("zs_opt", "fs_opt"),
    "dialog": ("zs_opt", "fs_opt"),
}
# The paper's family of each submix: Muffin is Flan 2021 plus dialog (and program synthesis, not released).
SUBMIX_FAMILY: dict[str, str] = {"flan2021": "muffin", "dialog": "muffin", "t0": "t0sf", "niv2": "niv2", "cot": "cot"}


def submix_shares(family_shares: dict[str, float]) -> dict[str, float]:
  """Family shares (Proportion A or B) as submix shares: a family's share is split over its submixes in the
  ratio of the public code's rates (so Muffin's goes 40:3 to flan2021 and dialog). Shares sum to 1."""
  total = sum(family_shares.values())
  family_rate = {f: sum(r for s, r in SUBMIX_RATES.items() if SUBMIX_FAMILY[s] == f) for f in family_shares}
  return {s: family_shares[f] / total * SUBMIX_RATES[s] / family_rate[f] for s, f in SUBMIX_FAMILY.items()}


def _data_dir_key() -> str:
  """Rates memoised for one data directory: counts read from another directory are other counts."""
  from flanx import data_dir
  return str(data_dir.current().path or "")


@functools.cache
def counted_examples(task_name: str, data_key: str) -> int | None:
  """The task's real example count where its source can count them (NIV2 task files), else None."""
  del data_key  # cache key
  source = getattr(TASKS.get(task_name), "source", None)
  return source.counted() if hasattr(source, "counted") else None


@functools.cache
def _capped_rate(task_name: str, cap: int, num_formats: int, data_key: str) -> float:
  task = seqio.TaskRegistry.get(task_name)
  counted = None if task.cache_dir else counted_examples(task_name, data_key)
  if counted is not None:  # seqio's formula on the counted size
    return min(counted / num_formats, cap / num_formats)
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)  # seqio warns once per uncached task; thousands of lines otherwise
  try:
    return seqio.utils.mixing_rate_num_examples(task, maximum=cap / num_formats, scale=1.0 / num_formats)
  finally:
    logging.set_verbosity(verbosity)


def capped_rate(task_name: str, cap: int, num_formats: int) -> float:
  """seqio's examples-proportional rate for one (dataset, format) task: min(examples, cap) / formats. The
  examples are seqio's cached statistics for a cached task, else the source's counted size where it has one
  (NIV2), else the declared size. Memoised per task and data directory."""
  return _capped_rate(task_name, cap, num_formats, _data_dir_key())


def examples_used(task_name: str) -> tuple[int | None, str]:
  """The example count a task's rate is computed from, and where it comes from: 'cached' (seqio's statistics),
  'counted' (the source's files, NIV2) or 'declared' (the size written in tasks/flan; NIV2's uniform 5k
  fallback when its task file is absent). (None, '') for a task mixed at a fixed rate (the released route)."""
  source = getattr(TASKS.get(task_name), "source", None)
  if not hasattr(source, "num_examples"):
    return None, ""
  task = seqio.TaskRegistry.get(task_name)
  if task.cache_dir:
    return task.get_cached_stats("train")["examples"], "cached"
  counted = counted_examples(task_name, _data_dir_key())
  return (counted, "counted") if counted is not None else (source.num_examples, "declared")


@dataclasses.dataclass(frozen=True)
class CappedRate:
  """Rate function for a task inside its family submixture (`scale`: INVERSION_RATE for an inversion task)."""
  family: str
  num_formats: int
  scale: float = 1.0

  def __call__(self, task: seqio.Task) -> float:
    return self.scale * capped_rate(task.name, CAPS[self.family], self.num_formats)


@dataclasses.dataclass(frozen=True)
class FamilyShareRate:
  """Rate function for a task in a cross-family mixture: its capped rate, scaled to the family's share.

  The mixture is kept flat (rather than nesting the family submixtures) because seqio recomputes a
  submixture's task list and total rate for every task, which is quadratic in thousands of tasks.
  """
  family: str
  num_formats: int
  share: float
  # (task name, its dataset's number of formats, its rate scale) for the whole family
  family_tasks: tuple[tuple[str, int, float], ...]
  scale: float = 1.0

  def __call__(self, task: seqio.Task) -> float:
    total = _family_total(self.family, self.family_tasks, _data_dir_key())
    return self.share * self.scale * capped_rate(task.name, CAPS[self.family], self.num_formats) / total


@functools.cache
def _family_total(family: str, family_tasks: tuple[tuple[str, int, float], ...], data_key: str) -> float:
  return sum(scale * _capped_rate(name, CAPS[family], k, data_key) for name, k, scale in family_tasks)


def normalised(shares: dict[str, float], families) -> dict[str, float]:
  """Shares restricted to `families`, rescaled to sum to 1 (the Table 3 ladder keeps Proportion A's ratios)."""
  total = sum(shares[f] for f in families)
  return {f: shares[f] / total for f in families}
