"""The fault suite's summary table (faults injected, runs that survived, steps lost), and its `ledger` fixture.

Faults travel as test-report user properties, so the table is complete under pytest-xdist too (the workers'
memory never reaches the controller, their reports do).
"""

import dataclasses

import pytest

from tests.faults.harness import Fault


@pytest.fixture
def ledger(record_property):
  def add(fault: Fault) -> None:
    record_property("fault", dataclasses.asdict(fault))
  return add


def _faults(terminalreporter) -> list[Fault]:
  faults = []
  for key in ("passed", "failed"):
    for report in terminalreporter.stats.get(key, []):
      if getattr(report, "when", "call") == "call":
        faults += [Fault(**value) for name, value in getattr(report, "user_properties", []) if name == "fault"]
  return faults


def pytest_terminal_summary(terminalreporter):
  faults = _faults(terminalreporter)
  if not faults:
    return
  terminalreporter.section("fault injection summary")
  terminalreporter.write_line(f"{'case':<30} {'fault':<66} {'survived':<9} {'steps lost':>10}")
  for f in faults:
    terminalreporter.write_line(f"{f.case:<30} {f.fault:<66} {'yes' if f.survived else 'NO':<9} {f.steps_lost:>10}")
  terminalreporter.write_line(f"{len(faults)} faults injected, {sum(f.survived for f in faults)} runs survived, "
                              f"{sum(f.steps_lost for f in faults)} steps lost in all")
