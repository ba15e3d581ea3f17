"""Real signals to real trainer processes: SIGKILL at several steps, SIGTERM, and a dead peer of a 2-process job."""

import json
import os
import pathlib
import random
import re
import signal
import socket
import time

import pytest

from tests.faults import harness
from tests.faults.harness import Fault
from flanx import checksums, run_lock
from flanx.errors import FlanxError

STEPS = 12
COMMON = (f"TRAIN_STEPS={STEPS}", "CHECKPOINT_PERIOD=3", "KEEP_CHECKPOINTS=None")


def assert_checkpoints_intact(model_dir: pathlib.Path) -> None:
  """Every committed checkpoint carries its checksums, and its files still match them."""
  for step in harness.checkpoint_steps(model_dir):
    step_dir = model_dir / f"checkpoint_{step}"
    assert (step_dir / checksums.MANIFEST).exists() and checksums.verify(step_dir) is None, step_dir


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pathlib.Path:
  """One uninterrupted run, shared by the cases that compare against it."""
  model_dir = tmp_path_factory.mktemp("reference")
  harness.run(model_dir, *COMMON)
  return model_dir


def test_sigkill_twice_then_sigterm_each_resume_matches_uninterrupted(tmp_path, reference, ledger):
  """One run interrupted three times: SIGKILL at two random steps, then SIGTERM. Every restart continues with
  exactly the next batch (same losses as the uninterrupted run); SIGTERM exits 0 with a checkpoint at its step.
  One chain instead of separate runs keeps the suite's process start-ups (the dominant cost) few."""
  first, second = sorted(random.Random(time.time_ns()).sample(range(2, STEPS - 3), 2))
  for kill in (first, second):
    start_step = max(harness.losses(tmp_path), default=0)
    proc, out = harness.signal_at(tmp_path, max(kill, start_step + 1), harness.KILL, *COMMON)
    assert proc.returncode == -9, out[-2000:]
    assert_checkpoints_intact(tmp_path)  # a kill during an async save leaves only orbax's temporary directory
    logged = max(harness.losses(tmp_path))
    saved = max(harness.checkpoint_steps(tmp_path), default=0)
    ledger(Fault("sigkill_resume", f"SIGKILL after step {logged}", True, logged - saved))

  term_after = max(harness.losses(tmp_path)) + 1
  had_checkpoint = bool(harness.checkpoint_steps(tmp_path))  # both kills may land before the first save
  proc, out = harness.signal_at(tmp_path, term_after, harness.TERM, *COMMON)
  assert ("resuming from" in out) == had_checkpoint, out[-2000:]
  assert proc.returncode == 0, out[-3000:]
  assert "stopped by a signal at step" in out
  stopped = max(harness.losses(tmp_path))
  assert stopped < STEPS, "the run finished before SIGTERM arrived"
  assert harness.checkpoint_steps(tmp_path)[-1] == stopped  # nothing lost: checkpointed at the step it stopped
  assert_checkpoints_intact(tmp_path)  # the final save waited for the async one before it, and for itself
  ledger(Fault("sigterm_preemption", f"SIGTERM after step {term_after} (stopped at {stopped})", True, 0))

  out = harness.run(tmp_path, *COMMON)
  assert f"checkpoint_{stopped}" in out
  resumed = harness.losses(tmp_path)
  assert sorted(resumed) == list(range(1, STEPS + 1))
  assert resumed == harness.losses(reference), f"kills at {first}, {second}; SIGTERM at {term_after}"  # exact
  harness.assert_bitwise_equal(harness.final_params(tmp_path), harness.final_params(reference))


def test_two_processes_sigterm_one_then_kill_one_then_job_resumes_exactly(tmp_path_factory, ledger):
  """A 2-process job, interrupted twice. SIGTERM to process 1 only: both processes stop after the same step,
  checkpoint together and exit 0. Then, after a relaunch, process 1 is SIGKILLed: process 0 exits non-zero
  with a flanx line within the heartbeat timeout instead of hanging. The job relaunched once more continues
  with exactly the next batch: losses and final parameters equal an uninterrupted 2-process run's.
  The host syncs only at steps divisible by 3 (HOST_SYNC_PERIOD), 2 (logging) or 4 (checkpoints)."""
  steps = 16
  # The heartbeat timeout bounds how long a survivor waits for a dead peer. The shutdown timeout bounds how
  # long a clean exit waits for the other process, which on a loaded 2-core machine can be well over 10 s.
  bindings = (f"TRAIN_STEPS={steps}", "CHECKPOINT_PERIOD=4", "LOG_PERIOD=2", "HOST_SYNC_PERIOD=3",
              "KEEP_CHECKPOINTS=None", "HEARTBEAT_TIMEOUT_SECONDS=10", "SHUTDOWN_TIMEOUT_SECONDS=60")
  reference = tmp_path_factory.mktemp("pair_reference")
  harness.run_pair(reference, *bindings)
  model_dir = tmp_path_factory.mktemp("pair")
  rng = random.Random(time.time_ns())

  term_at = rng.choice([2, 4])
  procs = harness.start_pair(model_dir, *bindings)
  try:
    harness.wait_for_step(procs[0], model_dir, term_at)
    procs[1].send_signal(harness.TERM)
    outs = [harness.finish(p, timeout=120) for p in procs]
  finally:
    for p in procs:
      p.kill()
  assert [p.returncode for p in procs] == [0, 0], outs[0][-2000:] + outs[1][-2000:]
  stops = [re.search(r"stopped by a signal at step (\d+)", out) for out in outs]
  assert all(stops), f"SIGTERM after step {term_at} was not acted on before the run ended:\n{outs[0][-2000:]}"
  stop = int(stops[0].group(1))
  assert int(stops[1].group(1)) == stop == max(harness.checkpoint_steps(model_dir)), (stops, outs[1][-2000:])
  ledger(Fault("sigterm_one_of_two", f"SIGTERM process 1 of 2 after step {term_at} (both stopped at {stop})",
               True, 0))

  assert stop <= steps - 6, f"stopped only at step {stop}: too late to inject the next fault"
  kill_at = stop + rng.choice([2, 4])
  procs = harness.start_pair(model_dir, *bindings)
  try:
    harness.wait_for_step(procs[0], model_dir, kill_at)
    procs[1].kill()
    killed_at = time.monotonic()
    out = harness.finish(procs[0], timeout=120)
    waited = time.monotonic() - killed_at
  finally:
    for p in procs:
      p.kill()
  assert procs[0].returncode == harness.PEER_LOST_EXIT_CODE, out[-3000:]
  assert "flanx: process 0 of the multi-process job" in out and "Rerun the same command on every host" in out
  assert waited < 120
  logged = max(harness.losses(model_dir))
  saved = max(harness.checkpoint_steps(model_dir))
  ledger(Fault("peer_death", f"SIGKILL process 1 of 2 after step {logged} (survivor exit "
                             f"{procs[0].returncode} after {waited:.0f}s)", True, logged - saved))

  harness.run_pair(model_dir, *bindings)
  assert harness.losses(model_dir) == harness.losses(reference), f"SIGTERM at {term_at}, SIGKILL after {logged}"
  harness.assert_bitwise_equal(harness.final_params(model_dir), harness.final_params(reference))


def test_second_ctrl_c_exits_at_once_without_a_traceback(tmp_path, ledger):
  """Two SIGINTs 50 ms apart: the first asks for a checkpoint, the second leaves at once (exit 130, one line),
  whatever save is in flight; the checkpoints already committed stay intact."""
  proc = harness.start(tmp_path, "TRAIN_STEPS=100000", "CHECKPOINT_PERIOD=2", "KEEP_CHECKPOINTS=None")
  harness.wait_for_step(proc, tmp_path, 3)
  proc.send_signal(signal.SIGINT)
  time.sleep(0.05)
  proc.send_signal(signal.SIGINT)
  sent = time.monotonic()
  out = harness.finish(proc, timeout=60)
  waited = time.monotonic() - sent
  assert proc.returncode in (130, 0), out[-3000:]  # 0: the run checkpointed and ended before the second arrived
  if proc.returncode == 130:
    assert "flanx: interrupted again: exiting without a checkpoint" in out and "Traceback" not in out, out[-3000:]
  assert not (tmp_path / ".flanx_train.lock").exists()
  assert_checkpoints_intact(tmp_path)
  logged = max(harness.losses(tmp_path))
  ledger(Fault("second_ctrl_c", f"two SIGINTs after step {logged} (exit {proc.returncode} in {waited:.1f}s)", True,
               logged - max(harness.checkpoint_steps(tmp_path), default=0)))


def test_lock_naming_pid_1_is_taken_over_or_says_how_to_clear_it(tmp_path, capsys, ledger):
  """pid 1 is alive but is not the training that wrote the lock. With the holder's start time recorded (as flanx
  writes it) the lock is stale and taken over; without it (a lock from elsewhere) the error names the process and
  says how to clear the lock."""
  lock = tmp_path / run_lock.LOCK_FILE
  lock.write_text(json.dumps({"pid": 1, "host": socket.gethostname(), "boot_ticks": -1}))
  run_lock.acquire(tmp_path)
  assert "now belongs to a process started later" in capsys.readouterr().out
  assert json.loads(lock.read_text())["pid"] == os.getpid()
  run_lock.release(tmp_path)
  assert not lock.exists()
  ledger(Fault("stale_lock", "lock naming pid 1 with another start time: taken over", True, 0))
  lock.write_text(json.dumps({"pid": 1, "host": socket.gethostname()}))
  with pytest.raises(FlanxError, match=rf"pid 1 on .*running: .*; if that process is not a training into it, "
                                       rf"delete {lock}"):
    run_lock.acquire(tmp_path)
  ledger(Fault("stale_lock", "lock naming pid 1 without a start time: one line saying how to clear it", False, 0))
