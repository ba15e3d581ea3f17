"""Where benchmark and collection files are read from: one resolution for every command.

The directory holds data in its original release layouts (bbh/, mmlu/, mgsm/, tydiqa/, flan_cot/, niv2/, vocab/).
Every entry point (train, eval, infer, inspect, bench data, data status/cache) builds one `DataContext` with
`resolve()`, which takes, in order: the gin macro DATA_DIR (`--gin.DATA_DIR="'/data'"`, or a gin file), then the
FLANX_DATA_DIR environment variable, else no directory (only the embedded fixtures are readable). The entry point
passes the context on; `install()` hands it to the seqio tasks, whose registry is process-wide and cannot take
arguments. Nothing is read at import time.
"""

import ast
import dataclasses
import os
import pathlib
from collections.abc import Sequence

import gin

from flanx.errors import FlanxError

ENV_VAR = "FLANX_DATA_DIR"
MACRO = "DATA_DIR"
VOCABULARY_FILE = ("vocab", "spiece.model")
# The --vocab values of the argparse commands (flanx.vocab.for_command makes them vocabularies); here, not in
# flanx.vocab, so that those commands answer --help before seqio and TensorFlow are imported.
VOCAB_CHOICES = ("auto", "sentencepiece", "byte")


class MissingDataFile(FlanxError):
  """A file is absent from an existing data directory (an evaluation suite may skip what needs it)."""


@dataclasses.dataclass(frozen=True)
class DataContext:
  """The data directory of one run, where it came from ('DATA_DIR', 'FLANX_DATA_DIR' or 'unset'), and the
  vocabulary the run's tasks encode with (a seqio.Vocabulary; None until the entry point knows its model)."""
  path: pathlib.Path | None
  origin: str = "unset"
  vocabulary: object | None = None

  def with_vocabulary(self, vocabulary) -> "DataContext":
    return dataclasses.replace(self, vocabulary=vocabulary)

  def require(self) -> pathlib.Path:
    """The directory; one FlanxError line when it is unset or does not exist."""
    if self.path is None:
      raise FlanxError(f"no data directory: set {ENV_VAR}=/path/to/data or --gin.{MACRO}=\"'/path/to/data'\"")
    if self.path.exists() and not self.path.is_dir():
      raise FlanxError(f"data directory {self.path} (from {self.origin}) is a file, not a directory")
    if not self.path.is_dir():
      raise FlanxError(f"data directory {self.path} does not exist (from {self.origin})")
    return self.path

  def optional(self) -> pathlib.Path | None:
    """The directory, or None when unset; a set but missing directory is still an error."""
    return None if self.path is None else self.require()

  def file(self, *parts: str, what: str = "") -> pathlib.Path:
    """A file under the directory; a missing file raises MissingDataFile naming it and what it is for."""
    path = self.require().joinpath(*parts)
    if not path.exists():
      purpose = f" ({what})" if what else ""
      raise MissingDataFile(f"missing data file {path}{purpose}")
    return path

  def vocabulary_file(self, instead: str | None = "set vocab.sentencepiece.path") -> pathlib.Path:
    """DATA_DIR/vocab/spiece.model; one line naming the path and how to set it when it is absent (`instead`:
    the other way the caller offers, in its own terms: a gin binding, a command's flag)."""
    otherwise = f", or {instead}" if instead else ""
    if self.path is None:
      raise FlanxError(f"no SentencePiece vocabulary: no data directory is set, so {'/'.join(VOCABULARY_FILE)} "
                       f"cannot be found; set {ENV_VAR}=/path/to/data (holding {'/'.join(VOCABULARY_FILE)}) or "
                       f"--gin.{MACRO}{otherwise}")
    path = self.path.joinpath(*VOCABULARY_FILE)
    if not path.is_file():
      raise FlanxError(f"no SentencePiece vocabulary at {path} (data directory from {self.origin}); copy T5's "
                       f"spiece.model there{otherwise}")
    return path


def check_value(value, where: str = MACRO) -> str | os.PathLike | None:
  """DATA_DIR must be a path string (or None); anything else is one line naming the macro."""
  if value is None or isinstance(value, os.PathLike) or (isinstance(value, str) and value.strip()):
    return value
  if isinstance(value, str):
    raise FlanxError(f"{where}='' is empty: give a directory path, or None to use {ENV_VAR}")
  raise FlanxError(f"{where}={value!r}: give a directory path as a string (got {type(value).__name__}), "
                   f"e.g. --gin.{MACRO}=\"'/data/flan'\"")


def _gin_value():
  """The gin macro DATA_DIR when a gin file or override defined it, else None."""
  try:
    return gin.query_parameter(f"%{MACRO}")
  except ValueError:
    return None


def resolve(data_dir: str | os.PathLike | None = None, environ=None) -> DataContext:
  """The one resolution: `data_dir` (an entry point's --gin.DATA_DIR), else the parsed gin macro DATA_DIR (or a
  DATA_DIR already installed in this process), else $FLANX_DATA_DIR, else unset."""
  environ = os.environ if environ is None else environ
  value = check_value(data_dir if data_dir is not None else _gin_value())
  if value is not None:
    return DataContext(pathlib.Path(value).expanduser(), MACRO)
  if _installed is not None and _installed.origin == MACRO:  # set in-process (set_data_dir, a notebook, a test)
    return DataContext(_installed.path, MACRO)
  if environ.get(ENV_VAR):
    return DataContext(pathlib.Path(environ[ENV_VAR]).expanduser(), ENV_VAR)
  return DataContext(None)


def split_argv(argv: Sequence[str]) -> tuple[str | None, list[str]]:
  """For the argparse commands (inspect, bench data, data): takes `--gin.DATA_DIR=VALUE` out of argv.

  VALUE is written as for the gin commands (a quoted string, or None); returns (the path or None, the rest)."""
  value, rest = None, []
  for arg in argv:
    name, eq, text = arg.partition("=")
    if name != f"--gin.{MACRO}":
      rest.append(arg)
      continue
    if not eq:
      raise FlanxError(f"--gin.{MACRO} needs a value: --gin.{MACRO}=\"'/path/to/data'\"")
    try:
      parsed = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
      raise FlanxError(f"--gin.{MACRO}={text}: not a gin value; quote the path: --gin.{MACRO}=\"'{text}'\"") from None
    value = check_value(parsed, f"--gin.{MACRO}")
  return value, rest


# The context the seqio tasks read, installed by the entry point (tests install their own). Until one is
# installed, readers resolve afresh, so a parsed DATA_DIR or FLANX_DATA_DIR is never ignored.
_installed: DataContext | None = None
# The vocabulary the tasks encode with (flanx.vocab.TASK_VOCABULARY forwards to it): the last one installed.
_task_vocabulary: object | None = None


def check_vocabulary(vocabulary) -> None:
  """A SentencePiece vocabulary whose model file is missing (flanx.vocab marks it) is one FlanxError line."""
  missing = getattr(vocabulary, "missing", None)
  if missing:
    raise FlanxError(missing)


def install(context: DataContext | None) -> None:
  """Makes `context` the one every registered task reads from in this process (None: resolve on each use),
  its vocabulary (when set) the one they encode with."""
  global _installed
  if context is not None and context.vocabulary is not None:
    check_vocabulary(context.vocabulary)  # a missing SentencePiece model: one line, before any data is read
    use_task_vocabulary(context.vocabulary)
  _installed = context


def use_task_vocabulary(vocabulary) -> None:
  global _task_vocabulary
  _task_vocabulary = vocabulary


def task_vocabulary():
  """The vocabulary last installed for the tasks, or None."""
  return _task_vocabulary


def set_data_dir(path: str | os.PathLike | None) -> None:
  """Installs `path` as DATA_DIR (tests and notebooks); None goes back to resolving."""
  install(DataContext(pathlib.Path(check_value(path)).expanduser(), MACRO) if path else None)


def current() -> DataContext:
  return _installed if _installed is not None else resolve()


def data_dir(required: bool = True) -> pathlib.Path | None:
  """The current data directory; raises FlanxError when it is required but unset or missing."""
  context = current()
  return context.require() if required else context.optional()


def data_file(*parts: str, what: str = "") -> pathlib.Path:
  """A file under the current data directory; a missing file raises MissingDataFile naming it."""
  return current().file(*parts, what=what)
