"""One training per MODEL_DIR: a lock file naming the process that holds it.

Two trainings writing checkpoints into the same directory would silently overwrite each other. The lock
(MODEL_DIR/.flanx_train.lock, JSON {"pid", "host", "started", "boot_ticks"}) is created atomically (O_EXCL).
A lock left by a process that no longer runs on this host is stale and taken over, and so is one whose pid now
belongs to a process started later (the pid was reused: `boot_ticks` is the holder's start time since boot,
from /proc). One from another host, or naming a live process that cannot be told apart, is refused with the
command to clear it. Remote directories (gs://) are not locked.
"""

import json
import os
import pathlib
import socket
import time

from flanx.errors import FlanxError

LOCK_FILE = ".flanx_train.lock"
_held: set[pathlib.Path] = set()


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # exists, owned by another user
    return True
  return True


def _start_ticks(pid: int) -> int | None:
  """The process's start time in clock ticks since boot (Linux /proc), None where it cannot be read."""
  try:
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the command name may hold spaces and ')'
  except (OSError, ValueError, IndexError):
    return None


def _command(pid: int) -> str:
  try:
    return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
  except OSError:
    return "?"


def _read(path: pathlib.Path) -> dict:
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError):
    return {}  # half-written by a process that died while creating it: stale


def acquire(model_dir) -> None:
  if "://" in str(model_dir):
    return
  path = pathlib.Path(str(model_dir)) / LOCK_FILE
  me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "boot_ticks": _start_ticks(os.getpid())}
  for _ in range(2):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o664)
    except FileExistsError:
      holder = _read(path)
      pid, host = holder.get("pid"), holder.get("host")
      ours = pid == os.getpid() and host == me["host"]  # this process's earlier run (in-process callers, tests)
      recorded = holder.get("boot_ticks")
      reused = isinstance(pid, int) and recorded is not None and _start_ticks(pid) not in (None, recorded)
      if not ours and isinstance(pid, int) and host == me["host"] and _alive(pid) and not reused:
        raise FlanxError(f"MODEL_DIR={model_dir} is in use by another training (pid {pid} on {host}, since "
                         f"{holder.get('started', '?')}, running: {_command(pid)[:80]}); wait for it, or choose "
                         f"another MODEL_DIR; if that process is not a training into it, delete {path}") from None
      if not ours and isinstance(pid, int) and host != me["host"]:
        raise FlanxError(f"MODEL_DIR={model_dir} is in use by another training (pid {pid} on {host}); if that "
                         f"process is gone, delete {path}") from None
      if not ours:
        why = "now belongs to a process started later" if reused else "is gone"
        print(f"flanx: taking over a stale lock in {model_dir} (pid {pid} on {host} {why})", flush=True)
      path.unlink(missing_ok=True)
      continue
    with os.fdopen(fd, "w") as f:
      f.write(json.dumps(me))
    _held.add(path)
    return
  raise FlanxError(f"could not take the lock {path}: another process keeps creating it")


def release(model_dir) -> None:
  path = pathlib.Path(str(model_dir)) / LOCK_FILE
  if path in _held:
    _held.discard(path)
    if _read(path).get("pid") == os.getpid():
      try:
        path.unlink(missing_ok=True)
      except OSError:  # MODEL_DIR became read-only or vanished: the error that says so must not be lost to this
        pass


def release_all() -> None:
  for path in list(_held):
    release(path.parent)
