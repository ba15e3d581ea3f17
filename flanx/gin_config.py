"""T5X-style gin command lines: --gin_file=... (repeatable) and --gin.MACRO=VALUE overrides.

Gin files are looked up relative to the working directory, then the project's gin/ directory, so
`--gin_file=runs/demo.gin` and `--gin_file=gin/runs/demo.gin` both work.
"""

import os
import pathlib
import re
from collections.abc import Sequence

import gin
from etils import epath

from flanx.errors import FlanxError, closest

GIN_DIR = pathlib.Path(__file__).resolve().parent.parent / "gin"
_LOCATION = re.compile(r'In (?:file|bindings string) "?([^"\n]*)"?, line (\d+)')
_MACRO_OVERRIDE = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=")


def split_args(argv: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
  """argv -> (gin files, gin bindings, remaining args). Accepts `--flag=value` and `--flag value`."""
  files, bindings, rest = [], [], []
  args = list(argv)
  while args:
    arg = args.pop(0)
    name, eq, value = arg.partition("=")
    if name in ("--gin_file", "--gin_bindings") and not eq:
      if not args:
        raise FlanxError(f"{name} needs a value")
      value = args.pop(0)
    if name == "--gin_file":
      files.append(value)
    elif name == "--gin_bindings":
      bindings.append(value)
    elif name.startswith("--gin."):
      if not eq:
        raise FlanxError(f"{arg}: gin overrides look like --gin.NAME=VALUE")
      bindings.append(f"{name[len('--gin.'):]} = {value}")
    else:
      rest.append(arg)
  return files, bindings, rest


def register_configurables() -> None:
  """Imports every module whose configurables gin files name; tasks too, since gin locks its registry."""
  import flanx.data  # noqa: F401
  import flanx.data_dir  # noqa: F401
  import flanx.eval  # noqa: F401  (with flanx.evaluation and flanx.decoding)
  import flanx.infer  # noqa: F401
  import flanx.models  # noqa: F401
  import flanx.optimizer  # noqa: F401
  import flanx.partitioning  # noqa: F401
  import flanx.train  # noqa: F401
  import flanx.vocab  # noqa: F401
  import tasks  # noqa: F401


def resolve_file(name: str) -> pathlib.Path:
  """A --gin_file argument -> an existing path: as given, else under gin/ (with or without a 'gin/' prefix)."""
  for candidate in (pathlib.Path(name), GIN_DIR / name, GIN_DIR.parent / name):
    if candidate.is_file():
      return candidate.resolve()
  raise FlanxError(f"gin file {name!r} not found (looked in {os.getcwd()} and {GIN_DIR})")


def check_command_line(gin_files: Sequence[str], unknown: Sequence[str], example: str) -> None:
  """The checks every gin-driven command makes of its arguments: nothing unrecognised, at least one gin file."""
  if unknown:
    raise FlanxError(f"unknown argument {unknown[0]!r}; use --gin_file=FILE and --gin.NAME=VALUE")
  if not gin_files:
    raise FlanxError(f"no --gin_file given (try --gin_file={example})")


def _one_line(error: Exception) -> str:
  text = str(error).strip()
  first = text.splitlines()[0] if text else type(error).__name__
  where = _LOCATION.search(text)
  return f"gin: {first} ({where.group(1)}:{where.group(2)})" if where else f"gin: {first}"


def _defined_macros() -> list[str]:
  # gin keeps macros as ('NAME', 'gin.macro') entries of its config table.
  return sorted(scope for scope, selector in gin.config._CONFIG if selector == "gin.macro")


def parse(gin_files: Sequence[str], bindings: Sequence[str], finalize: bool = True) -> None:
  """Parses files then overrides; every gin mistake becomes one FlanxError line with its location."""
  register_configurables()
  gin.clear_config()
  # Includes inside gin files ('models/t5_1_1/base.gin') resolve against gin/ before the working directory.
  # It must come first: gin's Python-package reader misreads a relative include when the working directory
  # holds a folder of the same name (e.g. runs/), and crashes instead of moving on.
  if str(GIN_DIR) not in gin.config._LOCATION_PREFIXES:
    gin.config._LOCATION_PREFIXES.insert(0, str(GIN_DIR))
  try:
    gin.parse_config_files_and_bindings([str(resolve_file(f)) for f in gin_files], [], finalize_config=False)
    defined = _defined_macros()
    for binding in bindings:
      macro = _MACRO_OVERRIDE.match(binding)
      if macro and macro.group(1) not in defined:
        raise FlanxError(f"unknown gin macro {macro.group(1)} in --gin.{binding.split('=')[0].strip()}"
                         f"{closest(macro.group(1), defined)}")
    gin.parse_config_files_and_bindings([], list(bindings), finalize_config=finalize)
  except FlanxError:
    raise
  except (ValueError, SyntaxError, TypeError, IOError) as e:
    raise FlanxError(_one_line(e)) from e


def call_error(error: Exception) -> FlanxError:
  """A gin-injected call that failed on a missing or wrong argument -> one line naming the configurable."""
  text = str(error).strip()
  configurable = re.search(r"In call to configurable '([^']+)'", text)
  first = text.splitlines()[0] if text else type(error).__name__
  return FlanxError(f"gin: {first}" + (f" (configurable {configurable.group(1)})" if configurable else ""))


def write_operative_config(model_dir: str | os.PathLike) -> pathlib.Path:
  """Writes the config that was actually used (every injected value) to MODEL_DIR/config.gin, atomically."""
  target = epath.Path(model_dir) / "config.gin"
  tmp = target.parent / f".config.gin.tmp{os.getpid()}"
  tmp.write_text(gin.operative_config_str())
  tmp.replace(target)  # atomic on local disks; a single object write on object stores
  return target
