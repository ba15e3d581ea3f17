"""Rows of the release files the Flan readers share: JSON lines (plain or .gz) and Parquet.

Paths are anything with `.open("rb")` (pathlib, or etils.epath for gs:// and other remote stores). A row
that cannot be parsed is reported through `flanx.records` (BAD_RECORD_POLICY) with its file and line or row.
"""

import json
from collections.abc import Iterator, Sequence

from flanx import records as bad


def json_lines(path) -> Iterator[tuple[int, dict]]:
  """(line number, object) for each JSON line; blank lines are skipped, broken ones are bad records."""
  for number, line in bad.decoded_lines(path):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except json.JSONDecodeError as e:
      bad.bad_record(path, number, f"broken JSON ({e.msg} at column {e.colno})")
      continue
    if not isinstance(row, dict):
      bad.bad_record(path, number, f"expected a JSON object, found {type(row).__name__}")
      continue
    yield number, row


def parquet_rows(path, columns: Sequence[str] | None = None, where: tuple[str, str] | None = None,
                 batch_size: int = 1024) -> Iterator[tuple[str, dict]]:
  """('row N', row) for each row of a Parquet file, reading only `columns` (those the file has).

  `where=(column, value)` keeps rows whose column equals value, filtered in Arrow before rows become Python
  objects; rows where the column is null are kept so that the caller can report them.
  """
  import pyarrow as pa  # only needed when Parquet is read
  import pyarrow.compute as pc
  import pyarrow.parquet as pq
  with path.open("rb") as f:
    try:
      parquet = pq.ParquetFile(f)
    except (pa.ArrowInvalid, OSError) as e:
      bad.bad_record(path, 0, f"not a readable Parquet file ({e})")
      return
    names = parquet.schema_arrow.names
    wanted = [c for c in columns if c in names] if columns is not None else None
    first = 0
    try:
      for batch in parquet.iter_batches(batch_size=batch_size, columns=wanted):
        numbers = range(first + 1, first + 1 + batch.num_rows)
        first += batch.num_rows
        if where is not None and where[0] in batch.schema.names:
          column = batch.column(where[0])
          keep = pc.or_kleene(pc.equal(column, where[1]), pc.is_null(column))
          numbers = [numbers[i] for i in pc.indices_nonzero(keep).to_pylist()]
          batch = batch.filter(keep)
        yield from ((f"row {n}", row) for n, row in zip(numbers, batch.to_pylist()))
    except (pa.ArrowInvalid, OSError) as e:
      bad.bad_record(path, f"row {first + 1}", f"unreadable Parquet data ({e}); the rest of the file is skipped")
