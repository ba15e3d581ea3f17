"""flanx.host_memory: glibc's malloc keeps large buffers in its heap, and other platforms are left alone."""

import subprocess
import sys

import pytest

from flanx import host_memory

# Allocates and frees a 64 MiB buffer (the size of T5's embedding gradient) 20 times in a fresh process and
# prints the minor page faults that cost, with or without keep_large_buffers first.
_PROBE = """
import ctypes, resource, sys
from flanx import host_memory
if sys.argv[1] == "keep":
  assert host_memory.keep_large_buffers()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
size = 64 << 20
before = None
for i in range(21):
  p = libc.malloc(size)
  ctypes.memset(p, 1, size)
  libc.free(p)
  if i == 0:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_large_buffers_are_reused_instead_of_faulted_in_again():
  def faults(mode):
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())
  default, kept = faults("default"), faults("keep")
  assert default > 20 * (64 << 20) // 4096 // 2, default  # each round maps and faults its pages afresh
  assert kept < default // 20, (kept, default)


def test_other_platforms_are_left_alone(monkeypatch):
  monkeypatch.setattr(sys, "platform", "darwin")
  assert host_memory.keep_large_buffers() is False
