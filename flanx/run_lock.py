"""One training per MODEL_DIR: a lock file naming the process that holds it.

Two trainings writing checkpoints into the same directory would silently overwrite each other. The lock
(MODEL_DIR/.flanx_train.lock, JSON {"pid", "host", "started"}) is created atomically (O_EXCL). A lock left by a
process that no longer runs on this host is stale and taken over; one from another host cannot be checked
from here, so the error says how to remove it. Remote directories (gs://) are not locked.
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


def _read(path: pathlib.Path) -> dict:
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError):
    return {}  # half-written by a process that died while creating it: stale


def acquire(model_dir) -> None:
  if "://" in str(model_dir):
    return
  path = pathlib.Path(str(model_dir)) / LOCK_FILE
  me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
  for _ in range(2):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o664)
    except FileExistsError:
      holder = _read(path)
      pid, host = holder.get("pid"), holder.get("host")
      ours = pid == os.getpid() and host == me["host"]  # this process's earlier run (in-process callers, tests)
      if not ours and isinstance(pid, int) and host == me["host"] and _alive(pid):
        raise FlanxError(f"MODEL_DIR={model_dir} is in use by another training (pid {pid} on {host}, since "
                         f"{holder.get('started', '?')}); wait for it, or choose another MODEL_DIR") from None
      if not ours and isinstance(pid, int) and host != me["host"]:
        raise FlanxError(f"MODEL_DIR={model_dir} is in use by another training (pid {pid} on {host}); if that "
                         f"process is gone, delete {path}") from None
      if not ours:
        print(f"flanx: taking over a stale lock in {model_dir} (pid {pid} on {host} is gone)", flush=True)
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
      path.unlink(missing_ok=True)


def release_all() -> None:
  for path in list(_held):
    release(path.parent)
