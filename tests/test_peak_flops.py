"""measure_peak_flops: the timing window and its argument checks."""

import time

import pytest

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
