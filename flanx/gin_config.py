"""T5X-style gin command lines: --gin_file=... (repeatable) and --gin.MACRO=VALUE overrides.

Gin files are looked up relative to the working directory, then the project's gin/ directory, so
`--gin_file=runs/demo.gin` and `--gin_file=gin/runs/demo.gin` both work.
"""

import ast
import dataclasses
import inspect
import os
import pathlib
import re
import tokenize
from collections.abc import Sequence

import gin
from etils import epath

from flanx.errors import FlanxError, closest, first_line

GIN_DIR = pathlib.Path(__file__).resolve().parent.parent / "gin"
_LOCATION = re.compile(r'In (?:file|bindings string) "?([^"\n]*)"?, line (\d+)')
_MACRO_OVERRIDE = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=")
# A bare word or path that Python cannot read as a literal: almost always a string the user forgot to quote.
_BARE_STRING = re.compile(r"^[A-Za-z_./~][\w./~:-]*$")
_NO_PARAMETER = re.compile(r"Configurable '([^']+)' doesn't have a parameter named '([^']+)'")
# Configurables that only an entry point defines (flanx.train, flanx.eval, ...). A gin file written for one
# command (a training run's saved config.gin, finetune.gin read by `flanx bench train`) may bind them while
# another command runs; gin skips those bindings instead of requiring every command module to be imported.
COMMAND_CONFIGURABLES = ("train", "DistributedTimeouts", "EvalConfig", "InferConfig", "flanx_generate",
                         "bench_model")


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
      _check_quoted(name, value)
      bindings.append(f"{name[len('--gin.'):]} = {value}")
    else:
      rest.append(arg)
  return files, bindings, rest


def _check_quoted(flag: str, value: str) -> None:
  """gin reads values as Python literals: `--gin.MODEL_DIR=runs/x` would reach gin as a bare name."""
  text = value.strip()
  if not text or text.startswith(("@", "%")) or text in ("True", "False", "None"):
    if not text:
      raise FlanxError(f"{flag}= has no value (strings need quotes: {flag}=\"'...'\")")
    return
  gin_syntax = "@" in text or "%" in text  # references and macros inside a literal: gin's own parser reads them
  try:
    tree = ast.parse(text, mode="eval")
  except SyntaxError as e:
    if gin_syntax:
      return
    raise FlanxError(f"{flag}={value}: not a complete Python literal ({e.msg}); check its brackets and "
                     f"quotes") from None
  try:
    ast.literal_eval(tree)
  except ValueError:
    if _BARE_STRING.match(text):
      raise FlanxError(f"{flag}={value}: gin values are Python literals; quote the string: "
                       f"{flag}=\"'{text}'\"") from None
    names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})
    if names and not gin_syntax:  # e.g. ['mmlu_direct'] after the shell removed its quotes
      quoted = re.sub(r"\b(" + "|".join(map(re.escape, names)) + r")\b", r"'\1'", text)
      raise FlanxError(f"{flag}={value}: {names[0]} is not a Python literal; quote the string: "
                       f"{flag}=\"{quoted}\"") from None


def register_configurables() -> None:
  """Imports the library modules whose configurables gin files name (before gin locks its registry).

  Command modules are not imported here: each entry point registers its own configurables by being imported,
  and COMMAND_CONFIGURABLES lets a command read gin files that bind another command's.
  """
  import flanx.data_dir
  import flanx.input.config
  import flanx.models
  import flanx.nonfinite
  import flanx.optimizer
  import flanx.partitioning
  import flanx.records
  import flanx.vocab
  from flanx.input import seqio_source
  # The task module's own configurables (allow_partial_mixture, collection_dir, ...) must exist before parsing.
  seqio_source.load_tasks(flanx.input.config.DEFAULT_TASK_MODULE)


def resolve_file(name: str) -> pathlib.Path:
  """A --gin_file argument -> an existing path: as given, else under gin/ (with or without a 'gin/' prefix)."""
  if not name.strip():  # '' would be the working directory
    raise FlanxError("--gin_file is empty")
  for candidate in (pathlib.Path(name), GIN_DIR / name, GIN_DIR.parent / name):
    if candidate.is_file():
      return candidate.resolve()
    if candidate.is_dir():
      raise FlanxError(f"--gin_file={name} is a directory ({candidate.resolve()}); give a .gin file inside it")
  raise FlanxError(f"gin file {name!r} not found (looked in {os.getcwd()} and {GIN_DIR})")


def check_command_line(gin_files: Sequence[str], unknown: Sequence[str], example: str) -> None:
  """The checks every gin-driven command makes of its arguments: nothing unrecognised, at least one gin file."""
  if unknown:
    raise FlanxError(f"unknown argument {unknown[0]!r}; use --gin_file=FILE and --gin.NAME=VALUE")
  if not gin_files:
    raise FlanxError(f"no --gin_file given (try --gin_file={example})")


def _parameter_hint(message: str) -> str:
  """' (did you mean ...?)' for a misspelled parameter of a known configurable."""
  found = _NO_PARAMETER.search(message)
  if not found:
    return ""
  try:
    target = gin.config._REGISTRY.get_match(found.group(1)).wrapped
    fn = target.__init__ if inspect.isclass(target) else target
    names = [p for p in inspect.signature(fn).parameters if p != "self"]
  except (AttributeError, TypeError, ValueError):
    return ""
  return closest(found.group(2), names)


def _one_line(error: Exception) -> str:
  text = str(error).strip()
  first = first_line(error)
  hint = _parameter_hint(first)
  first = first.rstrip(".") + hint if hint else first
  where = _LOCATION.search(text)
  return f"gin: {first} ({where.group(1)}:{where.group(2)})" if where else f"gin: {first}"


def _defined_macros() -> list[str]:
  # gin keeps macros as ('NAME', 'gin.macro') entries of its config table.
  return sorted(scope for scope, selector in gin.config._CONFIG if selector == "gin.macro")


def _registered(name: str) -> bool:
  try:
    return gin.config._REGISTRY.get_match(name) is not None
  except KeyError:  # ambiguous: registered more than once
    return True


def parse(gin_files: Sequence[str], bindings: Sequence[str], finalize: bool = True) -> None:
  """Parses files then overrides; every gin mistake becomes one FlanxError line with its location."""
  register_configurables()
  gin.clear_config()
  skip = [name for name in COMMAND_CONFIGURABLES if not _registered(name)]
  # Includes inside gin files ('models/t5_1_1/base.gin') resolve against gin/ before the working directory.
  # It must come first: gin's Python-package reader misreads a relative include when the working directory
  # holds a folder of the same name (e.g. runs/), and crashes instead of moving on.
  if str(GIN_DIR) not in gin.config._LOCATION_PREFIXES:
    gin.config._LOCATION_PREFIXES.insert(0, str(GIN_DIR))
  try:
    gin.parse_config_files_and_bindings([str(resolve_file(f)) for f in gin_files], [], finalize_config=False,
                                        skip_unknown=skip)
    defined = _defined_macros()
    for binding in bindings:
      macro = _MACRO_OVERRIDE.match(binding)
      if macro and macro.group(1) not in defined:
        raise FlanxError(f"unknown gin macro {macro.group(1)} in --gin.{binding.split('=')[0].strip()}"
                         f"{closest(macro.group(1), defined)}")
    gin.parse_config_files_and_bindings([], list(bindings), finalize_config=finalize, skip_unknown=skip)
  except FlanxError:
    raise
  except (ValueError, SyntaxError, TypeError, IOError, tokenize.TokenError) as e:  # TokenError: unclosed brackets
    raise (required_error(e) or FlanxError(_one_line(e))) from e


def parse_with_saved_model(gin_files: Sequence[str], bindings: Sequence[str], checkpoint_path: str | None = None,
                          name: str = "CHECKPOINT_PATH") -> None:
  """For commands that read a checkpoint: parses their gin; without a model (no MODEL macro) puts the
  checkpoint's saved config.gin first, so the model and vocabulary are the ones it was trained with."""
  parse(gin_files, bindings, finalize=False)
  if "MODEL" in _defined_macros():
    return
  path = checkpoint_path or gin.query_parameter("%CHECKPOINT_PATH")
  if not isinstance(path, str) or not path:  # %gin.REQUIRED, left unset, arrives as a reference
    raise FlanxError(f"{name} is required: set it with --gin.{name}=\"'run/checkpoint_N'\" (a model gin file "
                     f"is also needed when its MODEL_DIR holds no config.gin)")
  from flanx import checkpoints  # orbax and jax, only for commands that restore
  model_dir = checkpoints.locate(path, name).model_dir
  saved = [model_dir / f for f in ("config.gin", "model.gin") if (model_dir / f).is_file()]
  if not saved:
    raise FlanxError(f"no model: {model_dir} has no config.gin (written by training) or model.gin (written by "
                     f"`flanx convert from-hf`); give a model gin file (e.g. gin/models/t5_1_1/small.gin)")
  parse([str(saved[0]), *gin_files], bindings, finalize=False)


def checkpoint_command_config(argv: Sequence[str], configurable, example: str):
  """The set-up of the commands that score or decode a checkpoint (eval, infer): their command line checked,
  parsed over the checkpoint's saved model config, and `configurable` (their config dataclass) called."""
  gin_files, bindings, rest = split_args(argv)
  check_command_line(gin_files, rest, example=example)
  parse_with_saved_model(gin_files, bindings)
  return call(configurable)


def call_error(error: Exception) -> FlanxError:
  """A gin-injected call that failed on a missing or wrong argument -> one line naming the configurable."""
  text = str(error).strip()
  configurable = re.search(r"In call to configurable '([^']+)'", text)
  return FlanxError(f"gin: {first_line(error)}" + (f" (configurable {configurable.group(1)})" if configurable else ""))


def call(configurable):
  """Calls a gin-configured class or function with no arguments; a required value left unset, or a wrong or
  missing argument, becomes one line naming the macro or the configurable."""
  try:
    value = configurable()
  except RuntimeError as e:
    required = required_error(e)
    if required is None:
      raise
    raise required from e
  except TypeError as e:
    raise call_error(e) from e
  # A macro bound to %gin.REQUIRED and never set arrives as gin's REQUIRED marker instead of failing.
  for field in dataclasses.fields(value) if dataclasses.is_dataclass(value) else ():
    if getattr(value, field.name) is gin.REQUIRED or type(getattr(value, field.name)) is object:
      name = type(value).__name__
      what = _macro_of(name, field.name) or f"{name}.{field.name}"
      raise FlanxError(f"{what} is required: set it in a gin file or with --gin.{what}=...")
  return value


# What to say about a required macro beyond "set it" (the paper run files require INITIAL_CHECKPOINT_PATH).
REQUIRED_HINTS: dict[str, str] = {
    "INITIAL_CHECKPOINT_PATH": (
        "a paper run starts from a pretrained checkpoint: set --gin.INITIAL_CHECKPOINT_PATH=\"'PATH/checkpoint_N'\" "
        "(`flanx convert from-hf` writes one), or --gin.INITIAL_CHECKPOINT_PATH=None to train from random "
        "initialisation on purpose"),
}


def _required(what: str) -> FlanxError:
  return FlanxError(f"{what} is required: {REQUIRED_HINTS.get(what, f'set it in a gin file or with --gin.{what}=...')}")


def required_error(error: Exception) -> FlanxError | None:
  """gin's 'Required bindings ... not provided' -> one line naming the macro to set; None for other errors."""
  macro = re.search(r"(\w+)/macro\.value set to `%gin\.REQUIRED` but not subsequently overridden", str(error))
  if macro:
    return _required(macro.group(1))
  required = re.search(r"Required bindings for `([^`]+)` not provided in config: \[([^\]]*)\]", str(error))
  if not required:
    return None
  params = [p.strip(" '\"") for p in required.group(2).split(",")]
  macros = [m for m in (_macro_of(required.group(1), p) for p in params) if m]
  return _required(macros[0] if macros else f"{required.group(1)}.{params[0]}")


def _macro_of(configurable: str, parameter: str) -> str | None:
  """The macro a parameter is bound to in the parsed config (`EvalConfig.checkpoint_path = %CHECKPOINT_PATH`)."""
  for (scope, selector), params in gin.config._CONFIG.items():
    if selector.split(".")[-1] == configurable and not scope and parameter in params:
      ref = params[parameter]
      text = repr(ref) if isinstance(ref, gin.config.ConfigurableReference) else ""
      return text[1:] if text.startswith("%") else None  # a macro reference prints as %NAME
  return None


def write_operative_config(model_dir: str | os.PathLike) -> pathlib.Path:
  """Writes the config that was actually used (every injected value) to MODEL_DIR/config.gin, atomically."""
  target = epath.Path(model_dir) / "config.gin"
  tmp = target.parent / f".config.gin.tmp{os.getpid()}"
  tmp.write_text(gin.operative_config_str())
  tmp.replace(target)  # atomic on local disks; a single object write on object stores
  return target
