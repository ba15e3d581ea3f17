"""Shared test set-up: 8 simulated CPU devices, the real data directory when it is present, and the fault
suite's summary table."""

import os
import pathlib

# Must happen before jax is imported anywhere in the test process.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Many tests compile the same tiny programs; a persistent cache shared by the xdist workers avoids recompiling.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", "/tmp/flanx-test-jax-cache")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")

import pytest

from tests.helpers import SHARED_DATA


@pytest.fixture
def shared_data() -> pathlib.Path:
  """The directory of real benchmark and Flan files; the test is skipped when it is absent."""
  if not SHARED_DATA.is_dir():
    pytest.skip(f"real data directory {SHARED_DATA} is not present")
  return SHARED_DATA


@pytest.fixture(autouse=True)
def fresh_gin_config():
  """Gin bindings from one test's run must not leak into the next (configurable classes would pick them up)."""
  import gin

  gin.clear_config()
  yield
  gin.clear_config()


@pytest.fixture(autouse=True)
def no_installed_data_context():
  """A command run in-process installs its data directory and vocabulary (flanx.data_dir.install); the next
  test resolves its own."""
  yield
  from flanx import data_dir
  data_dir.install(None)


def pytest_terminal_summary(terminalreporter):
  """The fault suite's table (faults injected, runs that survived, steps lost), from the `ledger` records
  (tests/faults/conftest.py) that came back with the test reports."""
  faults = [value for key in ("passed", "failed") for report in terminalreporter.stats.get(key, [])
            if getattr(report, "when", "call") == "call"
            for name, value in getattr(report, "user_properties", []) if name == "fault"]
  if not faults:
    return
  terminalreporter.section("fault injection summary")
  terminalreporter.write_line(f"{'case':<30} {'fault':<66} {'survived':<9} {'steps lost':>10}")
  for f in faults:
    terminalreporter.write_line(f"{f['case']:<30} {f['fault']:<66} {'yes' if f['survived'] else 'NO':<9} "
                                f"{f['steps_lost']:>10}")
  terminalreporter.write_line(f"{len(faults)} faults injected, {sum(f['survived'] for f in faults)} runs survived, "
                              f"{sum(f['steps_lost'] for f in faults)} steps lost in all")
