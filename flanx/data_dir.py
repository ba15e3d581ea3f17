"""Where benchmark and collection files are read from.

The directory holds data in its original release layouts (bbh/, mmlu/, mgsm/, tydiqa/, flan_cot/, niv2/, vocab/).
It is taken from, in order: `set_data_dir()` (the gin macro DATA_DIR calls it), then the FLANX_DATA_DIR
environment variable. Nothing is read at import time.
"""

import os
import pathlib

import gin

from flanx.errors import FlanxError

ENV_VAR = "FLANX_DATA_DIR"
_override: pathlib.Path | None = None


class MissingDataFile(FlanxError):
  """A file is absent from an existing data directory (an evaluation suite may skip what needs it)."""


@gin.configurable
def set_data_dir(path: str | os.PathLike | None) -> None:
  """Points flanx at a data directory for this process (None falls back to FLANX_DATA_DIR)."""
  global _override
  _override = pathlib.Path(path).expanduser() if path else None


def data_dir(required: bool = True) -> pathlib.Path | None:
  """The configured data directory; raises FlanxError when it is required but unset or missing."""
  path = _override or (pathlib.Path(os.environ[ENV_VAR]).expanduser() if os.environ.get(ENV_VAR) else None)
  if path is None:
    if required:
      raise FlanxError(f"no data directory: set {ENV_VAR}=/path/to/data or the gin macro DATA_DIR")
    return None
  if not path.is_dir():
    raise FlanxError(f"data directory {path} does not exist (from {'DATA_DIR' if _override else ENV_VAR})")
  return path


def data_file(*parts: str, what: str = "") -> pathlib.Path:
  """A file under the data directory; a missing file raises FlanxError naming it and what it is for."""
  path = data_dir().joinpath(*parts)
  if not path.exists():
    purpose = f" ({what})" if what else ""
    raise MissingDataFile(f"missing data file {path}{purpose}")
  return path
