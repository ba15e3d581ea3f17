"""Peak throughput and memory bandwidth, measured: the denominator of MFU (model FLOPs utilisation), and the
hardware figures `flanx bench plan` checks the time model with on this machine."""

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec


def measure_peak_flops(devices=None, size: int = 1024, repeats: int = 20, warmup: int = 3,
                       dtype=jnp.float32, min_seconds: float = 2.0) -> float:
  """FLOP/s of one large matrix product per device, run on all devices at once and summed.

  Running them together matters on hosts whose "devices" share cores (simulated CPU devices). The first
  runs are untimed: thread pools spin up and caches fill only then, and timing them made two runs of the
  same job disagree by more than 10%. The fastest timed run is the peak, since load from other processes can
  only slow a run down. Timing goes on for at least `repeats` runs and `min_seconds`: a longer window gives
  a loaded machine more chances that some run finds the cores free (20 runs, about 1 s, gave 36 and 48
  GFLOP/s in two processes at load 6, and 74 to 127 GFLOP/s in three processes on the quiet machine; with
  the 2 s default, three quiet runs gave 140-155 GFLOP/s).
  """
  if min(size, repeats) <= 0 or warmup < 0 or min_seconds < 0:
    raise ValueError(f"measure_peak_flops: size={size} and repeats={repeats} must be positive, warmup={warmup} "
                     f"and min_seconds={min_seconds} >= 0")
  devices = list(devices if devices is not None else jax.local_devices())
  x = jnp.ones((len(devices), size, size), dtype)
  best = _fastest(lambda a: jnp.einsum("bij,bjk->bik", a, a), x, devices, repeats, warmup, min_seconds)
  return 2.0 * size ** 3 * len(devices) / best


def _fastest(fn, x: jax.Array, devices, repeats: int, warmup: int, min_seconds: float) -> float:
  """Seconds of the fastest timed run of `fn` on `x` split over `devices` along its first axis, after
  `warmup` untimed runs (and the compile), timing for at least `repeats` runs and `min_seconds`."""
  sharding = NamedSharding(jax.sharding.Mesh(np.array(devices), ("d",)), PartitionSpec("d"))
  x = jax.device_put(x, sharding)
  compiled = jax.jit(fn, out_shardings=sharding)
  for _ in range(1 + warmup):  # the first also compiles
    compiled(x).block_until_ready()
  best, runs, began = float("inf"), 0, time.perf_counter()
  while runs < repeats or time.perf_counter() - began < min_seconds:
    start = time.perf_counter()
    compiled(x).block_until_ready()
    best, runs = min(best, time.perf_counter() - start), runs + 1
  return best


def measure_memory_bandwidth(devices=None, megabytes: int = 256, repeats: int = 20, warmup: int = 3,
                             min_seconds: float = 2.0) -> float:
  """Bytes/s of a streaming update (read one float32 array, write another of the same size, `megabytes` in all
  split over the devices, far larger than the caches), run on all devices at once and summed; the fastest
  run, timed as measure_peak_flops times its products, since load from other processes can only slow a run
  down."""
  if min(megabytes, repeats) <= 0 or warmup < 0 or min_seconds < 0:
    raise ValueError(f"measure_memory_bandwidth: megabytes={megabytes} and repeats={repeats} must be positive, "
                     f"warmup={warmup} and min_seconds={min_seconds} >= 0")
  devices = list(devices if devices is not None else jax.local_devices())
  elements = max(1, megabytes * 2**20 // 4 // len(devices))
  x = jnp.ones((len(devices), elements), jnp.float32)
  best = _fastest(lambda a: a * 1.5 + 1.0, x, devices, repeats, warmup, min_seconds)
  return 2.0 * x.nbytes / best  # every element read once and written once


_PEAKS: dict[tuple[int, ...], float] = {}


def process_peak_flops(devices) -> float:
  """`measure_peak_flops(devices)`, measured once per process and device set: the hardware does not change
  between the runs one process makes (a notebook training twice, a test worker training many times), and each
  measurement takes about 2 s."""
  key = tuple(d.id for d in devices)
  if key not in _PEAKS:
    _PEAKS[key] = measure_peak_flops(devices)
  return _PEAKS[key]
