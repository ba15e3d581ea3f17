"""flanx/supervisor.py with stand-in children (no JAX): exit statuses, the one-line report, signals."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from flanx import supervisor
from tests.helpers import REPO_ROOT

CHILD = textwrap.dedent("""
    import os, pathlib, signal, sys, time
    what = sys.argv[1]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a trainer that checkpoints on SIGTERM
    pathlib.Path(sys.argv[2]).write_text(str(os.getpid()))
    if what == "peer_lost":  # what JAX's coordination client logs, then its abort
      print("F1121 client.h:80] Terminating process because the JAX distributed service detected fatal errors.",
            file=sys.stderr, flush=True)
      os.abort()
    if what == "abort":  # some other fatal error
      os.abort()
    if what == "exit":
      sys.exit(int(sys.argv[3]))
    time.sleep(120)  # 'wait'
""")


def _parent(tmp_path, *args: str) -> subprocess.Popen:
  """A supervisor process (as `python -m flanx.train --coordinator_address=...` would start) over CHILD."""
  (tmp_path / "stand_in_child.py").write_text(CHILD)
  code = f"import sys; from flanx import supervisor; sys.exit(supervisor.supervise('stand_in_child', {list(args)!r}))"
  env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO_ROOT}"}
  env.pop(supervisor.CHILD_ENV, None)
  return subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)


def _wait_for_pid(path, timeout: float = 30) -> int:
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if path.exists() and path.read_text():
      return int(path.read_text())
    time.sleep(0.05)
  raise AssertionError("the child never started")


def test_wanted_only_for_multiprocess_command_lines(monkeypatch):
  monkeypatch.delenv(supervisor.CHILD_ENV, raising=False)
  assert supervisor.wanted(["--gin_file=x", "--coordinator_address=127.0.0.1:1", "--process_id=0"])
  assert supervisor.wanted(["--multihost"])
  assert not supervisor.wanted(["--gin_file=x", "--gin.MODEL_DIR='d'"])
  monkeypatch.setenv(supervisor.CHILD_ENV, "1")
  assert not supervisor.wanted(["--multihost"])
  monkeypatch.setenv(supervisor.CHILD_ENV, "0")
  assert supervisor.wanted(["--multihost"])


def test_a_lost_peer_is_reported_in_one_line(tmp_path):
  parent = _parent(tmp_path, "peer_lost", str(tmp_path / "pid"), "--process_id=1")
  err = parent.communicate(timeout=60)[1]
  assert parent.returncode == supervisor.PEER_LOST_EXIT_CODE
  assert "client.h:80] Terminating process" in err  # the child's stderr is copied through
  (line,) = [text for text in err.splitlines() if text.startswith("flanx:")]
  assert line.startswith("flanx: process 1 of the multi-process job was stopped by JAX's distributed runtime")


def test_other_aborts_keep_their_own_status(tmp_path):
  parent = _parent(tmp_path, "abort", str(tmp_path / "pid"), "--process_id=1")
  err = parent.communicate(timeout=60)[1]
  assert parent.returncode == 128 + signal.SIGABRT and "flanx:" not in err


@pytest.mark.parametrize("status", [0, 1, 2])
def test_exit_statuses_pass_through_silently(tmp_path, status):
  parent = _parent(tmp_path, "exit", str(tmp_path / "pid"), str(status))
  err = parent.communicate(timeout=60)[1]
  assert parent.returncode == status and "flanx:" not in err


def test_sigterm_reaches_the_child_which_exits_cleanly(tmp_path):
  parent = _parent(tmp_path, "wait", str(tmp_path / "pid"))
  _wait_for_pid(tmp_path / "pid")
  parent.send_signal(signal.SIGTERM)
  parent.communicate(timeout=60)
  assert parent.returncode == 0


def test_an_interrupted_child_is_not_reported_as_a_lost_peer(tmp_path):
  parent = _parent(tmp_path, "wait", str(tmp_path / "pid"))
  _wait_for_pid(tmp_path / "pid")
  parent.send_signal(signal.SIGINT)  # the stand-in has no SIGINT handler: KeyboardInterrupt, then death by SIGINT
  err = parent.communicate(timeout=60)[1]
  assert parent.returncode == 128 + signal.SIGINT and "KeyboardInterrupt" in err and "flanx:" not in err


def _gone(pid: int) -> bool:
  """True once `pid` has exited (a zombie waiting for init to reap it counts as gone)."""
  try:
    os.kill(pid, 0)
    with open(f"/proc/{pid}/stat") as f:
      return f.read().split()[2] == "Z"
  except (ProcessLookupError, FileNotFoundError):
    return True


def test_killing_the_parent_kills_the_child(tmp_path):
  parent = _parent(tmp_path, "wait", str(tmp_path / "pid"))
  child = _wait_for_pid(tmp_path / "pid")
  assert not _gone(child)
  parent.kill()
  parent.communicate(timeout=60)
  deadline = time.monotonic() + 30
  while not _gone(child) and time.monotonic() < deadline:
    time.sleep(0.05)
  assert _gone(child), "the child outlived its supervisor"
