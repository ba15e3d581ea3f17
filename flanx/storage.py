"""A full or unwritable disk under MODEL_DIR: recognise its errors, check for room before writing, and keep
the background writers' error logs from burying the one line that explains it. The commands' own outputs
(generate --output, INFER_OUTPUT_DIR, eval's results, inspect --png) are checked and written here too: whole or
not at all, never inside a checkpoint, a failed write one line naming the flag or macro.

orbax writes arrays through tensorstore, which reports ENOSPC or EROFS as a ValueError ("RESOURCE_EXHAUSTED:
... No space left on device [os_error_code='28']"), not an OSError; its asyncio tasks and absl then log every
failed write (thousands of lines). Checking free space before each save turns the common case (the disk filled
up between checkpoints) into one line before anything is written.
"""

import contextlib
import logging
import os
import pathlib
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator

from flanx import errors
from flanx.errors import FlanxError

# Substrings of the messages tensorstore, orbax and the OS give for a storage failure that is not an OSError.
_STORAGE_MARKERS = ("No space left on device", "Read-only file system", "Permission denied", "Disk quota exceeded",
                    "os_error_code=")


def _chain(e: BaseException | None) -> Iterator[BaseException]:
  """e, then what caused it (or what it was raised while handling), and so on; each exception once."""
  seen = set()
  while e is not None and id(e) not in seen:
    yield e
    seen.add(id(e))
    e = e.__cause__ or e.__context__


def is_storage_error(e: BaseException | None) -> bool:
  """An OSError anywhere in the chain (full disk, read-only or vanished directory), or tensorstore's wrapping of
  one, as opposed to, say, a failed barrier because a peer process died, which must not be called a disk problem."""
  return any(isinstance(x, OSError) or any(m in str(x) for m in _STORAGE_MARKERS) for x in _chain(e))


def reason(e: BaseException) -> str:
  """What the OS said ('No space left on device'), found anywhere in the chain; else the first line."""
  for x in _chain(e):
    text = str(x.strerror) if isinstance(x, OSError) and x.strerror else str(x)
    for marker in _STORAGE_MARKERS[:-1]:
      if marker in text:
        return marker
  return errors.first_line(e)


def existing_parent(path) -> pathlib.Path:
  """`path` or its nearest existing parent (local paths)."""
  p = pathlib.Path(os.path.abspath(str(path)))
  while not p.exists() and p.parent != p:
    p = p.parent
  return p


def free_bytes(directory) -> int | None:
  """Free bytes on the file system holding `directory` (or its nearest existing parent); None for remote paths."""
  if "://" in str(directory):
    return None
  return shutil.disk_usage(existing_parent(directory)).free


def megabytes(n: int) -> str:
  return f"{n / 1e6:,.1f} MB"


def amount(n: int) -> str:
  """Bytes as a person reads them: exact below a megabyte (a nearly full disk is not '0.0 MB')."""
  return f"{n:,} bytes" if n < 1_000_000 else megabytes(n)


class _DropStorageNoise(logging.Filter):
  def filter(self, record: logging.LogRecord) -> bool:
    return not (record.levelno >= logging.ERROR and (is_storage_error(record.exc_info[1] if record.exc_info else None)
                                                      or any(m in record.getMessage() for m in _STORAGE_MARKERS)
                                                      or "Event loop is closed" in record.getMessage()))


def _is_noise(exc: BaseException | None) -> bool:
  """A storage failure re-reported by a background thread or coroutine, or the fallout of one: tensorstore's
  completion callbacks posting to the event loop orbax already closed, coroutines finalised at exit."""
  text = str(exc)
  return is_storage_error(exc) or "Event loop is closed" in text or "Python is likely shutting down" in text


@contextlib.contextmanager
def quiet_background_failures() -> Iterator[None]:
  """While checkpoints are written in the background, drops the error logs and tracebacks that orbax's threads,
  tensorstore's callbacks and asyncio print for a storage failure: the save's caller reports it in one line.
  Every other error still prints."""
  noise = _DropStorageNoise()
  loggers = [logging.getLogger(n) for n in ("absl", "asyncio", "orbax")]
  for logger in loggers:
    logger.addFilter(noise)
  hooks = sys.excepthook, sys.unraisablehook, threading.excepthook

  def excepthook(kind, value, tb):
    if not _is_noise(value):
      hooks[0](kind, value, tb)

  def unraisablehook(unraisable):
    if not _is_noise(unraisable.exc_value):
      hooks[1](unraisable)

  def thread_excepthook(args):
    if not _is_noise(args.exc_value):
      hooks[2](args)

  sys.excepthook, sys.unraisablehook, threading.excepthook = excepthook, unraisablehook, thread_excepthook
  try:
    yield
  finally:
    for logger in loggers:
      logger.removeFilter(noise)
    sys.excepthook, sys.unraisablehook, threading.excepthook = hooks


# --- outputs of the commands (generate --output, INFER_OUTPUT_DIR, eval's results, inspect --png) -------------


def write_atomic(path: pathlib.Path, data: bytes | str, name: str | None = None) -> None:
  """Readers see the old file or the whole new one, never a half-written one (temp file + os.replace).

  A write that fails for want of room or permission removes its temporary file; with `name` (the flag or macro
  that chose the path) it is one FlanxError line saying so and that the earlier file, if any, is unchanged."""
  path = pathlib.Path(path)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  except OSError as e:
    _refuse_failed_write(name, path, e)
    raise
  try:
    # mkstemp makes the file owner-only; give it the read/write bits of its directory (e.g. group-readable runs).
    os.chmod(tmp, 0o600 | (os.stat(path.parent).st_mode & 0o066))
    with os.fdopen(fd, "wb") as f:
      f.write(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(tmp, path)
  except BaseException as e:
    pathlib.Path(tmp).unlink(missing_ok=True)
    if isinstance(e, OSError):
      _refuse_failed_write(name, path, e)
    raise


def _refuse_failed_write(name: str | None, path: pathlib.Path, e: OSError) -> None:
  if name is None or not is_storage_error(e):
    return
  kept = "the earlier file is unchanged" if path.exists() else "nothing was written"
  free = free_bytes(path.parent)
  room = f", {amount(free)} free" if free is not None and reason(e) == "No space left on device" else ""
  raise FlanxError(f"{name}: cannot write {path}: {reason(e)}{room}; {kept}") from e


def writable_file(name: str, path: str | os.PathLike) -> None:
  """An output file that write_atomic can write: not a directory, in a directory that exists or can be created
  and that takes new files (the temporary one), also when the file itself exists and is replaced."""
  if "://" in str(path):
    return
  p = pathlib.Path(path).absolute()
  if p.is_dir():
    raise FlanxError(f"{name}={path} is a directory; give a file name")
  if p.exists() and not p.is_file():  # a device, pipe or socket: renaming over it would replace the node itself
    raise FlanxError(f"{name}={path} is not a regular file; give a file name")
  if not p.exists():
    errors.writable_dir(name, p)
  elif not os.access(p.parent, os.W_OK | os.X_OK):
    raise FlanxError(f"{name}={path} is not writable ({p.parent} does not allow new files, which replacing "
                     f"the file whole needs)")


def require_room(name: str, directory: str | os.PathLike, needed: int, what: str) -> None:
  """Refuses, before any work, an output that cannot fit: `needed` is a lower bound on its size (e.g. the
  prompts it repeats), so a clearly full disk is one line instead of a failure after decoding."""
  free = free_bytes(directory)
  if free is not None and free < needed:
    raise FlanxError(f"{name}: the disk holding {directory} has {amount(free)} free but {what} need at least "
                     f"{amount(needed)}; free some space or write elsewhere")


def checkpoint_holding(path: str | os.PathLike) -> pathlib.Path | None:
  """The checkpoint_<step> directory at or above `path` (its files are checksummed: nothing may be added)."""
  for candidate in (p := pathlib.Path(path).absolute(), *p.parents):
    suffix = candidate.name.partition("checkpoint_")[2]
    if candidate.name.startswith("checkpoint_") and suffix.isdigit() and candidate.is_dir():
      return candidate
  return None


def output_dir_outside_checkpoints(name: str, path: str | os.PathLike) -> None:
  """An output directory that is not a checkpoint directory nor inside one (a MODEL_DIR itself is allowed:
  eval/ and infer outputs live beside its checkpoints, under names training never writes)."""
  if "://" in str(path):
    return
  held = checkpoint_holding(path)
  if held is not None:
    raise FlanxError(f"{name}={path} is inside the checkpoint {held}; write outputs outside it")
