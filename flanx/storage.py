"""A full or unwritable disk under MODEL_DIR: recognise its errors, check for room before writing, and keep
the background writers' error logs from burying the one line that explains it.

orbax writes arrays through tensorstore, which reports ENOSPC or EROFS as a ValueError ("RESOURCE_EXHAUSTED:
... No space left on device [os_error_code='28']"), not an OSError; its asyncio tasks and absl then log every
failed write (thousands of lines). Checking free space before each save turns the common case (the disk filled
up between checkpoints) into one line before anything is written.
"""

import contextlib
import logging
import os
import shutil
import sys
import threading
from collections.abc import Iterator

# Substrings of the messages tensorstore, orbax and the OS give for a storage failure that is not an OSError.
_STORAGE_MARKERS = ("No space left on device", "Read-only file system", "Permission denied", "Disk quota exceeded",
                    "os_error_code=")


def is_storage_error(e: BaseException | None) -> bool:
  """An OSError anywhere in the chain (full disk, read-only or vanished directory), or tensorstore's wrapping of
  one, as opposed to, say, a failed barrier because a peer process died, which must not be called a disk problem."""
  seen = set()
  while e is not None and id(e) not in seen:
    if isinstance(e, OSError) or any(m in str(e) for m in _STORAGE_MARKERS):
      return True
    seen.add(id(e))
    e = e.__cause__ or e.__context__
  return False


def reason(e: BaseException) -> str:
  """What the OS said ('No space left on device'), found anywhere in the chain; else the first line."""
  seen, first = set(), None
  while e is not None and id(e) not in seen:
    first = first or e
    text = str(e.strerror) if isinstance(e, OSError) and e.strerror else str(e)
    for marker in _STORAGE_MARKERS[:-1]:
      if marker in text:
        return marker
    seen.add(id(e))
    e = e.__cause__ or e.__context__
  return str(first).strip().splitlines()[0] if first is not None and str(first).strip() else type(first).__name__


def free_bytes(directory) -> int | None:
  """Free bytes on the file system holding `directory` (or its nearest existing parent); None for remote paths."""
  if "://" in str(directory):
    return None
  path = os.path.abspath(str(directory))
  while not os.path.exists(path) and os.path.dirname(path) != path:
    path = os.path.dirname(path)
  return shutil.disk_usage(path).free


def megabytes(n: int) -> str:
  return f"{n / 1e6:,.1f} MB"


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
