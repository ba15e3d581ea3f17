"""Peak throughput, measured: the denominator of MFU (model FLOPs utilisation)."""

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec


def measure_peak_flops(devices=None, size: int = 2048, repeats: int = 5, dtype=jnp.float32) -> float:
  """FLOP/s of one large matrix product per device, run on all devices at once and summed.

  Running them together matters on hosts whose "devices" share cores (simulated CPU devices).
  """
  devices = list(devices if devices is not None else jax.local_devices())
  mesh = jax.sharding.Mesh(np.array(devices), ("d",))
  sharding = NamedSharding(mesh, PartitionSpec("d"))
  x = jax.device_put(jnp.ones((len(devices), size, size), dtype), sharding)
  matmul = jax.jit(lambda a: jnp.einsum("bij,bjk->bik", a, a), out_shardings=sharding)
  matmul(x).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(x).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2.0 * size ** 3 * len(devices) / best
