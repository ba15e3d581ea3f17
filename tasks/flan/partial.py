"""Mixtures whose sources are partly present: one clear error by default, or, when the user allows it
(gin `ALLOW_PARTIAL_MIXTURE = True`), a mixture of the present sources with each family's share kept.

Every Flan mixture is a `FlanMixture`. Before it builds its dataset it checks that each task's source is
present (a file test, nothing is read). If some are missing:
- by default it raises one FlanxError saying how many sources of which families are missing and where the
  first one belongs;
- with ALLOW_PARTIAL_MIXTURE it prints which are missing and the family shares it uses, and mixes the present
  tasks. Within a family the present tasks keep their relative rates and together take the family's share;
  families with no present task drop out and the remaining shares are renormalised. So Proportion B without
  NIV2 keeps Muffin : T0-SF : CoT at 46.0 : 27.9 : 1.8.
Cached tasks (`use_cached=True`) are read from the cache, so their sources are not checked.
"""

import dataclasses
import inspect
import sys

import gin
import seqio

from flanx.errors import FlanxError
from tasks.flan.metadata import TASKS

_EXAMPLES_IN_MESSAGE = 3


@gin.configurable("allow_partial_mixture")
def _configured(allow: bool = False):
  """gin: allow_partial_mixture.allow = %ALLOW_PARTIAL_MIXTURE (validated outside gin's call)."""
  return allow


def allow_partial_mixture() -> bool:
  allow = _configured()
  if not isinstance(allow, bool):
    raise FlanxError(f"ALLOW_PARTIAL_MIXTURE={allow!r}: use True or False")
  return allow


@dataclasses.dataclass(frozen=True)
class Plan:
  """What a mixture is built from: the present tasks with the rates to use, and what is missing."""
  mixture: str
  rates: dict[str, float]  # present task name -> rate
  missing: tuple[str, ...]  # task names whose source is missing
  configured_shares: dict[str, float]  # family -> % of the mixture as defined
  used_shares: dict[str, float]  # family -> % of the mixture as built


def _metadata(task_name: str):
  return TASKS[task_name]


def _shares(rates: dict[str, float]) -> dict[str, float]:
  total = sum(rates.values())
  shares: dict[str, float] = {}
  for name, rate in rates.items():
    family = _metadata(name).family
    shares[family] = shares.get(family, 0.0) + 100.0 * rate / total
  return shares


def plan(mixture: seqio.Mixture) -> Plan:
  """Checks which of the mixture's sources are present and computes the rates of a mixture of those."""
  presence: dict[object, bool] = {}

  def present(name: str) -> bool:
    source = _metadata(name).source
    if source not in presence:
      presence[source] = source.present()
    return presence[source]

  full = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  here = {name: rate for name, rate in full.items() if present(name)}
  missing = tuple(name for name in full if name not in here)
  configured = _shares(full)
  if not here:
    return Plan(mixture.name, {}, missing, configured, {})
  present_shares = _shares(here)
  # Scale each family's present tasks up to the family's configured share, then renormalise over families.
  rates = {name: rate * configured[_metadata(name).family] / present_shares[_metadata(name).family]
           for name, rate in here.items()}
  return Plan(mixture.name, rates, missing, configured, _shares(rates))


def _missing_by_family(plan_: Plan) -> str:
  """'cot 7 of 9, niv2 1556 of 1556': sources (a raw dataset, or a released submix's template type)."""
  counts: dict[str, list[set, set]] = {}
  for name in list(plan_.rates) + list(plan_.missing):
    meta = _metadata(name)
    missing, total = counts.setdefault(meta.family, [set(), set()])
    total.add(meta.source.describe())
    if name in plan_.missing:
      missing.add(meta.source.describe())
  return ", ".join(f"{family} {len(m)} of {len(t)}" for family, (m, t) in sorted(counts.items()) if m)


def _examples(plan_: Plan) -> str:
  seen, shown = set(), []
  for name in plan_.missing:
    source = _metadata(name).source
    if source.describe() not in seen:
      seen.add(source.describe())
      shown.append(f"{source.describe()} (expected at {source.where()})")
  more = len(seen) - _EXAMPLES_IN_MESSAGE if len(seen) > _EXAMPLES_IN_MESSAGE else 0
  return "; ".join(shown[:_EXAMPLES_IN_MESSAGE]) + (f"; and {more} more" if more else "")


def _percentages(shares: dict[str, float]) -> str:
  return ", ".join(f"{family} {share:.1f}%" for family, share in sorted(shares.items(), key=lambda kv: -kv[1]))


def missing_error(plan_: Plan) -> FlanxError:
  return FlanxError(
      f"mixture {plan_.mixture!r} is missing sources (per family: {_missing_by_family(plan_)}): "
      f"{_examples(plan_)}. `flanx data status --missing` lists them all; set ALLOW_PARTIAL_MIXTURE=True "
      f"(gin; the flag --allow_partial of `flanx data cache` and `flanx inspect`) to build the mixture from the "
      f"present ones")


def report(plan_: Plan) -> str:
  """Two lines for the log when a partial mixture is built."""
  return (f"flanx: mixture {plan_.mixture!r} is built from the present sources (ALLOW_PARTIAL_MIXTURE); "
          f"missing sources per family: {_missing_by_family(plan_)}: {_examples(plan_)}\n"
          f"flanx: family shares used: {_percentages(plan_.used_shares)} "
          f"(configured: {_percentages(plan_.configured_shares)})")


_GET_DATASET = inspect.signature(seqio.Mixture.get_dataset)


class FlanMixture(seqio.Mixture):
  """A seqio mixture that checks its sources before building, and can be built from the present ones."""

  def get_dataset(self, *args, **kwargs):
    arguments = _GET_DATASET.bind(self, *args, **kwargs).arguments
    if arguments.get("use_cached", False):
      return super().get_dataset(*args, **kwargs)
    plan_ = plan(self)
    if not plan_.missing:
      return super().get_dataset(*args, **kwargs)
    if not allow_partial_mixture():
      raise missing_error(plan_)
    if not plan_.rates:
      raise FlanxError(f"mixture {plan_.mixture!r}: none of its sources is present, even with "
                       f"ALLOW_PARTIAL_MIXTURE ({_examples(plan_)})")
    print(report(plan_), file=sys.stderr, flush=True)
    present = seqio.Mixture(self.name, [(seqio.TaskRegistry.get(name), rate) for name, rate in plan_.rates.items()],
                            sample_fn=self._sample_fn)
    return present.get_dataset(*args, **kwargs)
