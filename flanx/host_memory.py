"""glibc malloc settings that keep a CPU training step's large buffers in the heap between steps.

XLA:CPU allocates every step's temporaries and outputs afresh. glibc serves allocations above its mmap
threshold (at most 32 MiB by default, and any size that does not fit a thread arena's 64 MiB heap) with a
new mmap and returns them with munmap, so each step touches fresh pages: the T5 v1.1 Small step took
~156,000 minor page faults (about 600 MiB of zero-filled pages) per step. One arena with no mmap threshold
below 1 GiB and no trimming keeps those buffers in the heap, reused from step to step (0 faults).
"""

import ctypes
import sys

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
