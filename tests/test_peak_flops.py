"""measure_peak_flops: the timing window and its argument checks; process_peak_flops measures once."""

import time
import types

import pytest

from flanx import flops
from flanx.flops import measure_peak_flops


def test_timing_runs_at_least_min_seconds():
  start = time.perf_counter()
  peak = measure_peak_flops(size=64, repeats=1, warmup=0, min_seconds=0.3)
  assert time.perf_counter() - start >= 0.3
  assert peak > 0


@pytest.mark.parametrize("kwargs", [{"min_seconds": -1.0}, {"repeats": 0}, {"size": 0}, {"warmup": -1}])
def test_bad_arguments_are_named(kwargs):
  name = next(iter(kwargs))
  with pytest.raises(ValueError, match=f"{name}={kwargs[name]}"):
    measure_peak_flops(**kwargs)


def test_process_peak_is_measured_once_per_device_set(monkeypatch):
  calls = []
  monkeypatch.setattr(flops, "_PEAKS", {})
  monkeypatch.setattr(flops, "measure_peak_flops", lambda devices: calls.append(len(devices)) or 1e9 * len(calls))
  first, second = types.SimpleNamespace(id=0), types.SimpleNamespace(id=1)
  assert flops.process_peak_flops([first, second]) == flops.process_peak_flops([first, second]) == 1e9
  assert flops.process_peak_flops([first]) == 2e9  # another device set is measured on its own
  assert calls == [2, 1]
