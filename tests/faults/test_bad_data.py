"""Malformed source records under BAD_RECORD_POLICY 'strict' (stop with file, line, reason) and 'skip' (count)."""

import gin
import pytest

from tests.faults.harness import Fault
from flanx import records
from flanx.errors import FlanxError
from tasks.flan import readers

ROWS = "q1\ta1\tr1\nq2\ta2\nq3\ta3\tr3\n"  # line 2 has two columns
JSONL = '{"q": "a"}\n{"q": \n{"x": "b"}\n'  # line 2 broken JSON, line 3 missing field


def _cot(tmp_path, text: str | bytes):
  path = tmp_path / "flan_cot/cot_data/demo_train.tsv"
  path.parent.mkdir(parents=True)
  path.write_bytes(text.encode() if isinstance(text, str) else text)
  return readers.CotTsv(lambda: tmp_path, "demo"), path


def _policy(mode: str):
  gin.clear_config()
  gin.bind_parameter("records.BadRecordPolicy.mode", mode)


@pytest.mark.parametrize("text,line,reason", [
    (ROWS, 2, "expected 3 tab-separated columns, found 2"),
    (b"q1\ta1\tr1\n\xff\xfe\ta\tb\n", 2, "not UTF-8"),
    ("", 0, "empty file"),
])
def test_strict_names_file_line_and_reason(tmp_path, ledger, text, line, reason):
  _policy("strict")
  reader, path = _cot(tmp_path, text)
  with pytest.raises(FlanxError) as e:
    list(reader.records())
  assert f"{path}:{line}: malformed record: {reason}" in str(e.value)
  ledger(Fault("bad_data_strict", f"{reason[:50]} (line {line})", False, 0))


def test_skip_counts_and_reports_every_skipped_record(tmp_path, capsys, ledger):
  _policy("skip")
  reader, path = _cot(tmp_path, ROWS)
  assert [r["question"] for r in reader.records()] == ["q1", "q3"]
  jsonl = readers.JsonRecords(lambda: tmp_path, "demo.jsonl", lambda raw: {"question": raw["q"]})
  (tmp_path / "demo.jsonl").write_text(JSONL)
  assert list(jsonl.records()) == [{"question": "a"}]
  err = capsys.readouterr().err
  assert f"skipped malformed record {path}:2" in err
  assert "demo.jsonl:2: broken JSON" in err and "demo.jsonl:3: missing or malformed field 'q'" in err
  assert records.skipped()[str(path)] == 1 and records.skipped()[str(tmp_path / "demo.jsonl")] == 2
  assert "malformed records (BAD_RECORD_POLICY='skip')" in records.report() and f"{path} (1)" in records.report()
  gin.clear_config()
  ledger(Fault("bad_data_skip", "bad column count, broken JSON, missing field", True, 0))
