"""Every Flan task and mixture name is built here, and only here."""

import re

FAMILIES: tuple[str, ...] = ("muffin", "t0sf", "cot", "niv2")
_PREFIX = "flan2022"
_MINI = "flan2022_mini"

MINI = _MINI
PROPORTIONS: tuple[str, ...] = ("a", "b")
# Paper Table 3: each rung adds a family to the one before.
LADDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    (f"{_PREFIX}_ladder_cot", ("cot",)),
    (f"{_PREFIX}_ladder_cot_muffin", ("cot", "muffin")),
    (f"{_PREFIX}_ladder_cot_muffin_t0sf", ("cot", "muffin", "t0sf")),
    (f"{_PREFIX}_ladder_cot_muffin_t0sf_niv2", ("cot", "muffin", "t0sf", "niv2")),
)

# Tasks per family in the paper (a task is a dataset, or a T0 prompt; Table 3 counts 9 / 89 / 282 / 1,836).
PAPER_TASKS: dict[str, int] = {"cot": 9, "muffin": 80, "t0sf": 193, "niv2": 1_554}


def _slug(text: str) -> str:
  """Dataset names such as 'cos_e_v1.11' or 'anli/r1' as seqio-safe lower-case identifiers."""
  return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")


def _root(mini: bool) -> str:
  return _MINI if mini else _PREFIX


def task(family: str, dataset: str, fmt: str, mini: bool = False) -> str:
  return f"{_root(mini)}_{family}_{_slug(dataset)}_{fmt}"


def family_mixture(family: str, fmt: str | None = None, mini: bool = False) -> str:
  """All formats of a family, or one format of it."""
  return f"{_root(mini)}_{family}" + (f"_{fmt}" if fmt else "")


def proportion(variant: str) -> str:
  return f"{_PREFIX}_proportion_{variant}"


# The released, pre-rendered collection: five submixes, each in several template types.
SUBMIXES: tuple[str, ...] = ("flan2021", "t0", "niv2", "cot", "dialog")
TEMPLATE_TYPES: tuple[str, ...] = ("zs_opt", "zs_noopt", "fs_opt", "fs_noopt")
_RELEASED = f"{_PREFIX}_released"


def released_task(submix: str, template_type: str) -> str:
  return f"{_RELEASED}_{submix}_{template_type}"


def released_submix(submix: str) -> str:
  """One submix, its template types mixed as the public Flan code mixes them."""
  return f"{_RELEASED}_{submix}"


def released_mixture(variant: str | None = None) -> str:
  """The five submixes at the public code's rates (no variant), or at the paper's Proportion A or B."""
  return _RELEASED if variant is None else f"{_RELEASED}_proportion_{variant}"
