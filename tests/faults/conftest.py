"""The fault suite's `ledger` fixture: each case records the faults it injected.

Faults travel as test-report user properties, so the summary table (printed by tests/conftest.py, which
the pytest-xdist controller loads; it never loads this file) is complete under pytest-xdist too.
"""

import dataclasses

import pytest

from tests.faults.harness import Fault


@pytest.fixture
def ledger(record_property):
  def add(fault: Fault) -> None:
    record_property("fault", dataclasses.asdict(fault))
  return add
