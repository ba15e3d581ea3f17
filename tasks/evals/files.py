"""Reading benchmark files in their release formats, with one-line FlanxErrors naming the file and line."""

import csv
import json
import pathlib

from flanx import data_dir
from flanx.errors import FlanxError


def path(*parts: str, what: str) -> pathlib.Path:
  """A benchmark file under the data directory; data_dir.MissingDataFile (a FlanxError naming the file) when it
  is absent, which a suite that allows it turns into a skipped setting."""
  return data_dir.data_file(*parts, what=what)


def read_text(p: pathlib.Path) -> str:
  try:
    return p.read_text(encoding="utf-8")
  except UnicodeDecodeError as e:
    raise FlanxError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def read_json(p: pathlib.Path):
  try:
    return json.loads(read_text(p))
  except json.JSONDecodeError as e:
    raise FlanxError(f"{p}:{e.lineno}: malformed JSON ({e.msg})") from None


def read_rows(p: pathlib.Path, fields: int, delimiter: str = ",") -> list[tuple[int, list[str]]]:
  """(line number, row) for each record of a headerless CSV/TSV; a row with the wrong field count is an error."""
  rows = []
  with open(p, encoding="utf-8", newline="") as f:
    # TSVs (MGSM) are not quoted: questions contain bare '"' characters.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
    start = 1
    try:
      for row in reader:
        if row and len(row) != fields:
          raise FlanxError(f"{p}:{start}: malformed row: expected {fields} fields, found {len(row)}")
        if row:
          rows.append((start, row))
        start = reader.line_num + 1
    except csv.Error as e:
      raise FlanxError(f"{p}:{reader.line_num}: malformed row ({e})") from None
  return rows


def malformed(p: pathlib.Path, where: str, why: str) -> FlanxError:
  return FlanxError(f"{p}:{where}: malformed item: {why}")
