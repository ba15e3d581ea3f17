"""Multi-process runs: a small parent process starts the trainer and explains, in one line, how it ended.

When a peer process of a multi-process job dies, JAX's distributed runtime notices the missing heartbeats
and aborts the survivors from C++ (a fatal log line and a stack trace) or a collective fails mid-step.
Neither can be caught inside the trainer, so a parent that imports nothing heavy runs the trainer as its
child, forwards SIGTERM/SIGINT to it (preemption still checkpoints), and turns an abnormal end that no
forwarded signal explains into one `flanx:` line with exit status PEER_LOST_EXIT_CODE. The child dies with the parent (PR_SET_PDEATHSIG), so
killing the parent never leaves an orphaned trainer holding devices.

Only the standard library here: the parent must start in milliseconds and never touch a device.
"""

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

CHILD_ENV = "FLANX_SUPERVISED"  # set in the child so it runs the trainer itself; set to 1 to opt out
MULTIPROCESS_FLAGS = ("--coordinator_address", "--multihost")
PEER_LOST_EXIT_CODE = 3
_FORWARDED = (signal.SIGTERM, signal.SIGINT)
_PR_SET_PDEATHSIG = 1


def wanted(argv: Sequence[str]) -> bool:
  """True for a multi-process command line that is not already running under a supervisor."""
  multiprocess = any(a.split("=")[0] in MULTIPROCESS_FLAGS for a in argv)
  return multiprocess and not os.environ.get(CHILD_ENV)


def _die_with_parent() -> None:
  try:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
  except (OSError, AttributeError):  # not Linux: an orphan is possible if the parent is SIGKILLed
    pass


def _process_name(argv: Sequence[str]) -> str:
  for arg in argv:
    if arg.startswith("--process_id="):
      return f"process {arg.split('=', 1)[1]}"
  return "this host's process"


def describe_end(returncode: int) -> str:
  if returncode == -signal.SIGABRT:
    return "was stopped by JAX's distributed runtime (see its message above)"
  if returncode < 0:
    return f"was killed by {signal.Signals(-returncode).name}"
  return f"failed with exit status {returncode} (see above)"


def supervise(module: str, argv: Sequence[str]) -> int:
  """Runs `python -m module argv` as a child; passes 0 (done or preempted) and 2 (bad input) through.

  The child gets its own process group, so a terminal's Ctrl-C reaches it once, through the parent. An end
  that follows a signal the parent forwarded is the signal's doing, not a lost peer: passed through quietly.
  """
  child = subprocess.Popen([sys.executable, "-m", module, *argv], env={**os.environ, CHILD_ENV: "1"},
                           preexec_fn=_die_with_parent, process_group=0)
  forwarded = []

  def forward(signum, _frame) -> None:
    forwarded.append(signum)
    child.send_signal(signum)

  previous = {s: signal.signal(s, forward) for s in _FORWARDED}
  try:
    returncode = child.wait()
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
  if returncode in (0, 2) or forwarded:
    return returncode if returncode >= 0 else 128 - returncode
  print(f"flanx: {_process_name(argv)} of the multi-process job {describe_end(returncode)}: most likely another "
        f"process of the job died or was preempted. Rerun the same command on every host; training resumes "
        f"from the newest checkpoint.", file=sys.stderr, flush=True)
  return PEER_LOST_EXIT_CODE
