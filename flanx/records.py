"""What a malformed source record does: BAD_RECORD_POLICY = 'strict' (the default) or 'skip'.

Readers call `bad_record(path, line, reason)` for each record they cannot use: a broken JSON line, a missing
field, a wrong column count, undecodable bytes, a corrupt compressed stream, an empty file. 'strict' stops
with a FlanxError naming the file, line and reason. 'skip' drops the record but never silently: each skip is
counted per file, the first few are printed, and `skipped()` reports them all.
"""

import collections
import dataclasses
import gzip
import sys
import zlib

import gin

from flanx.errors import FlanxError

MODES = ("strict", "skip")
_PRINTED_PER_FILE = 3  # a badly broken file should not flood the log; the count still covers every record


@gin.configurable
@dataclasses.dataclass(frozen=True)
class BadRecordPolicy:
  mode: str = "strict"

  def __post_init__(self):
    if self.mode not in MODES:
      raise FlanxError(f"BAD_RECORD_POLICY={self.mode!r}: use one of {', '.join(repr(m) for m in MODES)}")


_skipped: collections.Counter = collections.Counter()  # path -> records skipped in this process


def bad_record(path, line: int | str, reason: str) -> None:
  """Raises under 'strict'; counts and reports under 'skip'."""
  where = f"{path}:{line}"
  if BadRecordPolicy().mode == "strict":
    raise FlanxError(f"{where}: malformed record: {reason} (BAD_RECORD_POLICY='strict'; 'skip' drops such records)")
  _skipped[str(path)] += 1
  if _skipped[str(path)] <= _PRINTED_PER_FILE:
    print(f"flanx: warning: skipped malformed record {where}: {reason}", file=sys.stderr, flush=True)


def skipped() -> dict[str, int]:
  """Records skipped so far in this process, per file."""
  return dict(_skipped)


def report() -> str:
  """One line for the end of a run; '' when nothing was skipped."""
  if not _skipped:
    return ""
  files = ", ".join(f"{p} ({n})" for p, n in sorted(_skipped.items()))
  return f"flanx: skipped {sum(_skipped.values())} malformed records (BAD_RECORD_POLICY='skip'): {files}"


def _open_binary(path):
  """A binary stream for a local path or any path object with `.open` (etils.epath: gs:// too); .gz is
  decompressed on the fly."""
  stream = path.open("rb") if hasattr(path, "open") else open(path, "rb")
  if str(path).endswith(".gz"):
    return gzip.GzipFile(fileobj=stream, mode="rb")
  return stream


def decoded_lines(path):
  """(line number, text) for each line of a UTF-8 file (gzip-compressed when it ends in .gz); undecodable
  lines, a truncated or corrupt compressed stream and an empty file are bad records."""
  count = 0
  with _open_binary(path) as f:
    lines = enumerate(f, start=1)
    while True:
      try:
        number, raw = next(lines)
      except StopIteration:
        break
      except (OSError, EOFError, zlib.error) as e:  # gzip: bad CRC, truncated member, not a gzip file
        bad_record(path, count + 1, f"unreadable compressed data ({e}); the rest of the file is skipped")
        return
      count += 1
      try:
        yield number, raw.decode("utf-8")
      except UnicodeDecodeError as e:
        bad_record(path, number, f"not UTF-8 ({e.reason} at byte {e.start})")
  if count == 0:
    bad_record(path, 0, "empty file")
