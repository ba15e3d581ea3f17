"""glibc malloc settings that keep a CPU training step's large buffers in the heap between steps; and what one
device can still hold, for refusing sizes that cannot fit before anything compiles (`refuse_beyond_free`; for
decoding and scoring, which generate, score and infer check, `check_fits`).

XLA:CPU allocates every step's temporaries and outputs afresh. glibc serves allocations above its mmap
threshold (at most 32 MiB by default, and any size that does not fit a thread arena's 64 MiB heap) with a
new mmap and returns them with munmap, so each step touches fresh pages: the T5 v1.1 Small step took
~156,000 minor page faults (about 600 MiB of zero-filled pages) per step. One arena with no mmap threshold
below 1 GiB and no trimming keeps those buffers in the heap, reused from step to step (0 faults).
"""

import ctypes
import os
import sys

from flanx.errors import FlanxError

# mallopt parameter numbers from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
INT_MAX = 2**31 - 1


def keep_large_buffers(mmap_threshold: int = 1 << 30) -> bool:
  """Applies the settings above; True when glibc took them. Call before JAX starts its backend, since a
  thread keeps the arena it first allocated from. Not glibc (macOS, musl): does nothing, returns False."""
  if not sys.platform.startswith("linux"):
    return False
  try:
    libc = ctypes.CDLL("libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return False
  mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
  settings = ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, min(mmap_threshold, INT_MAX)), (M_TRIM_THRESHOLD, INT_MAX))
  return all(mallopt(option, value) == 1 for option, value in settings)


def free_per_device() -> tuple[int, str]:
  """What one device can still hold: its allocator's limit less what is in use, or on CPU the host's available
  memory; and where that is ('a TPU v4', 'the host')."""
  import jax
  device = jax.local_devices()[0]
  stats = device.memory_stats() or {}
  if "bytes_limit" in stats:
    return stats["bytes_limit"] - stats.get("bytes_in_use", 0), f"a {device.device_kind}"
  return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "the host"


def rows_per_device(rows: int) -> int:
  """A batch's rows on each device (decoding and scoring split the batch over every device)."""
  import jax
  return -(-rows // jax.device_count())


def refuse_beyond_free(need: int, what: str, advice: str) -> None:
  """One line when `need` bytes per device (an upper bound: plan_memory's estimates) exceed what is free, before
  XLA fails with RESOURCE_EXHAUSTED after compiling, in many lines."""
  free, where = free_per_device()
  if need > free:
    raise FlanxError(f"{what} needs about {need / 2**30:,.1f} GiB per device; {where} has {free / 2**30:,.1f} GiB "
                     f"free: {advice}")


def check_fits(config, rows: int, input_tokens: int, output_tokens: int, what: str, advice: str,
               scoring: bool = False) -> None:
  """Refuses decoding `rows` rows of `input_tokens` into `output_tokens` new tokens (with `scoring`: scoring
  targets of `output_tokens`) when it cannot fit in one device's free memory, before anything compiles (XLA would
  fail with RESOURCE_EXHAUSTED after minutes, in many lines): one line, `what` and `advice` (which name the
  command's own flags or macros) around the bytes needed and free. The rows are split over every device."""
  from flanx import plan_memory
  size = plan_memory.scoring_bytes if scoring else plan_memory.decoding_bytes
  refuse_beyond_free(size(config, rows_per_device(rows), input_tokens, output_tokens), what, advice)
