"""User-facing errors: one clear line saying what was wrong and where."""

import difflib
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence


class FlanxError(Exception):
  """A mistake in the user's input. Command-line entry points print it as one line, without a trace."""


def first_line(error: BaseException) -> str:
  """The first line of an exception's message (libraries append context lines), or its type name when empty."""
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


def closest(name: str, candidates: Iterable[str], n: int = 3) -> str:
  """A ' (did you mean ...?)' suffix naming the closest candidates, or ''."""
  matches = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
  return f" (did you mean {', '.join(repr(m) for m in matches)}?)" if matches else ""


# --- checks of configured values: the name in each message is the gin macro or flag the user sets ------------


def positive_int(name: str, value, optional: bool = False, minimum: int = 1) -> None:
  """An integer >= minimum (bools and strings refused); None passes when `optional`."""
  if value is None and optional:
    return
  if isinstance(value, bool) or not isinstance(value, int):
    raise FlanxError(f"{name}={value!r} must be an integer (got {type(value).__name__})")
  if value < minimum:
    raise FlanxError(f"{name}={value} must be at least {minimum}" + (" (or None)" if optional else ""))


def no_empty_flags(args, *flags: str) -> None:
  """One line for the first of these path flags given empty (`--input=`): as a path, '' would be the working
  directory ("is a directory", or a write over it). Flags not given (None) or not defined by this (sub)command
  pass; a repeated flag is a list."""
  for flag in flags:
    value = getattr(args, flag, None)
    if any(v is not None and not v.strip() for v in (value if isinstance(value, list) else [value])):
      raise FlanxError(f"--{flag} is empty")


def require_str(name: str, value) -> None:
  if not isinstance(value, str) or not value.strip():
    raise FlanxError(f"{name}={value!r} must be a non-empty string (quote it: --gin.{name}=\"'...'\")")


def require_bool(name: str, value) -> None:
  if not isinstance(value, bool):
    raise FlanxError(f"{name}={value!r} must be True or False (got {type(value).__name__})")


def feature_lengths(name: str, value, required: Iterable[str] = ("inputs", "targets")) -> None:
  """A {'inputs': N, 'targets': M} dict of positive integers."""
  if not isinstance(value, Mapping):
    raise FlanxError(f"{name}={value!r} must be a dict like {{'inputs': 512, 'targets': 64}}")
  missing = [k for k in required if k not in value]
  if missing:
    raise FlanxError(f"{name}={dict(value)!r} has no {missing[0]!r} length (needs {', '.join(map(repr, required))})")
  for key, length in value.items():
    positive_int(f"{name}[{key!r}]", length)


def writable_dir(name: str, path: str | os.PathLike) -> None:
  """An output directory that exists or can be created: no regular file at it or above it (local paths)."""
  if "://" in str(path):
    return
  p = pathlib.Path(path).absolute()
  for candidate in (p, *p.parents):
    if candidate.exists():
      if not candidate.is_dir():
        where = "is a file" if candidate == p else f"is under the regular file {candidate}"
        raise FlanxError(f"{name}={path} {where}; give a directory")
      if not os.access(candidate, os.W_OK | os.X_OK):
        raise FlanxError(f"{name}={path} is not writable ({candidate} does not allow it)")
      return


RUN_MARKERS = ("config.gin", "checkpoint_*")  # what training writes into a MODEL_DIR (and each checkpoint holds)


def run_holding(path: str | os.PathLike) -> pathlib.Path | None:
  """The nearest directory at or above `path` that is a training run or a checkpoint of one, else None."""
  for candidate in (p := pathlib.Path(path).absolute(), *p.parents):
    if candidate.is_dir() and any(next(candidate.glob(marker), None) for marker in RUN_MARKERS):
      return candidate
  return None


def output_outside(name: str, path: str | os.PathLike, *, inputs: Mapping[str, str | os.PathLike] | None = None,
                   runs: Sequence[str | os.PathLike] = ()) -> None:
  """An output file that replaces nothing a run or the command itself needs: not inside a training run or
  checkpoint (nor under one of `runs`, e.g. --checkpoint), and not one of the command's `inputs`."""
  if "://" in str(path):
    return
  out = pathlib.Path(path).absolute()
  for flag, given in (inputs or {}).items():
    if out.exists() and pathlib.Path(given).exists() and os.path.samefile(out, given):
      raise FlanxError(f"{name}={path} is the same file as {flag}; write the output to another file")
  run = run_holding(out.parent)
  if run is not None:
    raise FlanxError(f"{name}={path} is inside the training run or checkpoint {run}; write outputs outside it")
  for run in runs:
    if out.resolve().is_relative_to(pathlib.Path(run).resolve()):
      raise FlanxError(f"{name}={path} is inside the checkpoint {run}; write outputs outside it")
