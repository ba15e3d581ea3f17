"""User-facing errors: one clear line saying what was wrong and where."""

import difflib
from collections.abc import Iterable


class FlanxError(Exception):
  """A mistake in the user's input. Command-line entry points print it as one line, without a trace."""


def closest(name: str, candidates: Iterable[str], n: int = 3) -> str:
  """A ' (did you mean ...?)' suffix naming the closest candidates, or ''."""
  matches = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
  return f" (did you mean {', '.join(repr(m) for m in matches)}?)" if matches else ""
