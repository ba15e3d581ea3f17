"""Multi-process runs: a small parent process starts the trainer and explains, in one line, a lost peer.

When a peer process of a multi-process job dies, JAX's distributed runtime notices the missing heartbeats
and aborts the survivors from C++ (a fatal log line and a stack trace), which the trainer cannot catch. So
a parent that imports nothing heavy runs the trainer as its child, copies the child's stderr through while
watching for the runtime's fatal-error line, forwards SIGTERM/SIGINT (preemption still checkpoints), and
turns that end into one `flanx:` line with exit status PEER_LOST_EXIT_CODE. Every other end keeps the
child's own status (128 + N for a signal). The child dies with the parent (PR_SET_PDEATHSIG), so killing
the parent never leaves an orphaned trainer holding devices.

Only the standard library here: the parent must start in milliseconds and never touch a device.
"""

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

CHILD_ENV = "FLANX_SUPERVISED"  # "1" in the child, so it runs the trainer itself; set it to opt out
MULTIPROCESS_FLAGS = ("--coordinator_address", "--multihost")
PEER_LOST_EXIT_CODE = 3
# What JAX's coordination client logs when it aborts a process because the job lost a task.
PEER_LOST_MARKER = b"JAX distributed service detected fatal errors"
_FORWARDED = (signal.SIGTERM, signal.SIGINT)
_PR_SET_PDEATHSIG = 1


def wanted(argv: Sequence[str]) -> bool:
  """True for a multi-process command line that is not already running under a supervisor."""
  multiprocess = any(a.split("=")[0] in MULTIPROCESS_FLAGS for a in argv)
  return multiprocess and os.environ.get(CHILD_ENV) != "1"


def _die_with(parent: int):
  def preexec() -> None:
    try:
      ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: an orphan is possible if the parent is SIGKILLed
      return
    if os.getppid() != parent:  # the parent died before prctl took effect
      os._exit(1)
  return preexec


def _copy_stderr(source, found: list) -> None:
  """Copies the child's stderr to ours, line by line, noting whether the runtime's fatal line went by."""
  for line in iter(source.readline, b""):
    sys.stderr.buffer.write(line)
    sys.stderr.buffer.flush()
    if PEER_LOST_MARKER in line:
      found.append(line)


def _process_name(argv: Sequence[str]) -> str:
  for arg in argv:
    if arg.startswith("--process_id="):
      return f"process {arg.split('=', 1)[1]}"
  return "this host's process"


def supervise(module: str, argv: Sequence[str]) -> int:
  """Runs `python -m module argv` as a child and returns its exit status, or PEER_LOST_EXIT_CODE.

  The child gets its own process group, so a terminal's Ctrl-C reaches it once, through the parent.
  """
  child = subprocess.Popen([sys.executable, "-m", module, *argv], env={**os.environ, CHILD_ENV: "1"},
                           stderr=subprocess.PIPE, preexec_fn=_die_with(os.getpid()), process_group=0)
  peer_lost: list[bytes] = []
  copier = threading.Thread(target=_copy_stderr, args=(child.stderr, peer_lost), daemon=True)
  copier.start()
  previous = {s: signal.signal(s, lambda signum, _: child.send_signal(signum)) for s in _FORWARDED}
  try:
    returncode = child.wait()
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
  copier.join(timeout=10)
  if returncode != 0 and peer_lost:
    print(f"flanx: {_process_name(argv)} of the multi-process job was stopped by JAX's distributed runtime: "
          f"another process of the job died or was preempted. Rerun the same command on every host; training "
          f"resumes from the newest checkpoint.", file=sys.stderr, flush=True)
    return PEER_LOST_EXIT_CODE
  return returncode if returncode >= 0 else 128 - returncode
