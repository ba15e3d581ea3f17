"""Preemption: on SIGTERM (or Ctrl-C, SIGINT) every process finishes its step, all agree to stop at the same
step, checkpoint, exit 0.

The signal handler only sets a flag (it runs between Python bytecodes, never inside a compiled step). At each
sync point (every HOST_SYNC_PERIOD steps, see train.py) the processes exchange their flags (one tiny
allgather); if any process was signalled, all stop after that same step, so the checkpoint they write
together is consistent even when the signal reached the hosts at different moments, or only one of them.
A second Ctrl-C exits at once (status 130), without waiting for any save. See docs/faults.md for the TPU
maintenance-event path.
"""

import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Callable

import jax
import numpy as np
from jax.experimental import multihost_utils

from flanx import run_lock

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, what a shell reports for a process ended by Ctrl-C


def exit_now() -> None:
  """A second Ctrl-C: leave at once. Not by an exception: unwinding waits for orbax's background save and
  tf.data's threads (tens of seconds), and they print tracebacks on the way. The lock is released; a half-written
  save stays in orbax's temporary directory, which no restore reads."""
  print("flanx: interrupted again: exiting without a checkpoint", file=sys.stderr, flush=True)
  run_lock.release_all()
  os._exit(INTERRUPTED_EXIT_CODE)


@dataclasses.dataclass
class StopSignal:
  """Installed for the duration of a run; `should_stop()` is the job-wide agreement."""
  signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)
  received: int | None = None
  on_second_interrupt: Callable[[], None] = exit_now

  def __enter__(self) -> "StopSignal":
    # Python only lets the main thread install handlers; a run driven from another thread just isn't preemptible.
    main = threading.current_thread() is threading.main_thread()
    self._previous = {s: signal.signal(s, self._handle) for s in self.signals} if main else {}
    return self

  def __exit__(self, *exc) -> None:
    for s, handler in self._previous.items():
      signal.signal(s, handler)

  def _handle(self, signum, frame) -> None:
    if signum == signal.SIGINT and self.received == signal.SIGINT:
      self.on_second_interrupt()  # the user does not want to wait for the checkpoint
      return
    self.received = signum
    print(f"flanx: received {signal.Signals(signum).name}: finishing the current step, then checkpointing",
          flush=True)

  def should_stop(self) -> bool:
    """True on every process, at the same step, once any process has been signalled."""
    local = np.int32(self.received is not None)
    if jax.process_count() == 1:
      return bool(local)
    return bool(np.max(multihost_utils.process_allgather(local)))
