"""Faults inside a run, driven in-process (no start-up cost): damaged checkpoints, a changed optimizer, a full or
read-only disk (a real tmpfs, asynchronous saves), NaNs."""

import shutil
import subprocess
import threading
import time

import jax
import numpy as np
import pytest

from tests.faults.harness import Fault, poison_steps
from tests.helpers import gin_train
from flanx import checkpoints, checksums, cli, summaries
from flanx.errors import FlanxError

FAST = ("BATCH_SIZE = 8", "TASK_FEATURE_LENGTHS = {'inputs': 16, 'targets': 8}", "KEEP_CHECKPOINTS = None")
TWO_CHECKPOINTS = (*FAST, "TRAIN_STEPS = 4", "CHECKPOINT_PERIOD = 2")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """One tiny training with checkpoints 2 and 4, copied by every case that damages or reuses it."""
  model_dir = tmp_path_factory.mktemp("trained")
  gin_train(model_dir, *TWO_CHECKPOINTS)
  return model_dir


def _copy(trained, tmp_path):
  model_dir = tmp_path / "run"
  shutil.copytree(trained, model_dir)
  return model_dir


def _biggest(directory):
  return max((p for p in directory.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def _flip_bytes(path, count: int = 64) -> None:
  data = bytearray(path.read_bytes())
  middle = len(data) // 2
  for i in range(middle, middle + count):
    data[i] ^= 0xFF
  path.write_bytes(bytes(data))


def _listing(model_dir) -> dict:
  return {str(p.relative_to(model_dir)): p.stat().st_size for p in model_dir.rglob("*") if p.is_file()}


DAMAGE = {
    "truncated params file": lambda step: _biggest(step / "params").write_bytes(
        _biggest(step / "params").read_bytes()[:1000]),
    "64 flipped bytes in a params file": lambda step: _flip_bytes(_biggest(step / "params")),
    "params/_METADATA deleted": lambda step: (step / "params" / "_METADATA").unlink(),
    "params/ deleted": lambda step: shutil.rmtree(step / "params"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(trained, tmp_path, capsys, ledger, damage):
  model_dir = _copy(trained, tmp_path)
  DAMAGE[damage](model_dir / "checkpoint_4")
  capsys.readouterr()
  run = gin_train(model_dir, *FAST, "TRAIN_STEPS = 5", "CHECKPOINT_PERIOD = 2")
  err = capsys.readouterr()
  warnings = [line for line in err.err.splitlines() if "cannot be restored" in line]
  assert len(warnings) == 1 and "checkpoint_4 cannot be restored" in warnings[0], err.err[-2000:]
  assert "restored checkpoint_2 instead" in warnings[0]
  assert "resuming from" in err.out and "checkpoint_2" in err.out.split("resuming from")[1].splitlines()[0]
  assert (model_dir / "corrupt_checkpoint_4").is_dir()
  assert run.checkpoint_steps == [2, 4, 5]  # 4 rewritten from the good state
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(checkpoints.load_params_numpy(model_dir)))
  ledger(Fault("damaged_checkpoint", f"{damage} of checkpoint_4", True, 2))


def test_checksums_name_the_changed_file(trained, tmp_path):
  model_dir = _copy(trained, tmp_path)
  step = model_dir / "checkpoint_4"
  assert checksums.verify(step) is None and checksums.recorded_bytes(step) > 0
  target = _biggest(step / "opt_state")
  _flip_bytes(target, 1)
  assert checksums.verify(step) == f"{target.relative_to(step)} does not match its checksum"
  assert checksums.verify(step, lambda name: name.startswith("params/")) is None


def test_every_checkpoint_damaged_stops_with_one_line_unless_asked_to_restart(trained, tmp_path, capsys, ledger):
  model_dir = _copy(trained, tmp_path)
  for step in (2, 4):
    _flip_bytes(_biggest(model_dir / f"checkpoint_{step}" / "params"))
  before = _listing(model_dir)
  args = ["train", "--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{model_dir}'", "--gin.BATCH_SIZE=8",
          "--gin.TASK_FEATURE_LENGTHS={'inputs': 16, 'targets': 8}", "--gin.KEEP_CHECKPOINTS=None",
          "--gin.TRAIN_STEPS=4", "--gin.CHECKPOINT_PERIOD=2", "--gin.LOG_PERIOD=1", "--gin.train.peak_flops=1e12",
          "--gin.train.show_predictions=0"]
  assert cli.main(args) == 2
  err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("flanx")]
  assert len(err) == 1 and "every checkpoint in MODEL_DIR" in err[0] and "nothing was moved" in err[0], err
  assert "checkpoint_4: " in err[0] and "checkpoint_2: " in err[0] and "RESTART_ON_DAMAGED_CHECKPOINTS" in err[0]
  assert _listing(model_dir) == before  # nothing moved, metrics not rewritten
  ledger(Fault("all_checkpoints_damaged", "flipped bytes in checkpoints 2 and 4: stop", False, 0))

  assert cli.main([*args, "--gin.RESTART_ON_DAMAGED_CHECKPOINTS=True"]) == 0
  assert sorted(p.name for p in model_dir.glob("*checkpoint_*")) == [
      "checkpoint_2", "checkpoint_4", "corrupt_checkpoint_2", "corrupt_checkpoint_4"]
  ledger(Fault("all_checkpoints_damaged", "... with RESTART_ON_DAMAGED_CHECKPOINTS=True", True, 4))


def test_changed_optimizer_setting_is_a_mismatch_naming_it_not_damage(trained, tmp_path, capsys, ledger):
  model_dir = _copy(trained, tmp_path)
  before = _listing(model_dir)
  rc = cli.main(["train", "--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{model_dir}'", "--gin.BATCH_SIZE=8",
                 "--gin.TASK_FEATURE_LENGTHS={'inputs': 16, 'targets': 8}", "--gin.TRAIN_STEPS=6",
                 "--gin.OptimizerConfig.min_dim_size_to_factor=16"])
  err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("flanx")]
  assert rc == 2 and len(err) == 1, err
  assert "checkpoint_4 does not fit this run's optimizer state" in err[0], err[0]
  assert "OptimizerConfig.min_dim_size_to_factor is 128 in the checkpoint but 16 in this run" in err[0], err[0]
  assert _listing(model_dir) == before  # nothing moved aside, train_metrics.jsonl untouched
  ledger(Fault("optimizer_changed", "min_dim_size_to_factor 128 -> 16 on resume", True, 0))


# --- a full or read-only disk: a real tmpfs, asynchronous saves -------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path):
  """A mounted tmpfs (root only: the suite's CI runs as root); `resize(kb)` remounts it with another size."""
  mount = tmp_path / "disk"
  mount.mkdir()
  done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
  if done.returncode != 0:
    pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or done.returncode})")

  def resize(kb: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={kb}k", str(mount)], check=True)

  yield mount, resize
  subprocess.run(["umount", "-l", str(mount)], check=False)


def _one_line_error(capfd, call) -> str:
  with pytest.raises(FlanxError) as e:
    call()
  message = str(e.value)
  err = capfd.readouterr().err
  assert len(message.splitlines()) == 1, message
  assert "Traceback" not in err and "ERROR:" not in err, err[-3000:]  # orbax's background writers stay quiet
  return message


def test_full_disk_is_one_line_and_the_run_resumes_once_there_is_room(tmpfs, capfd, ledger):
  mount, resize = tmpfs
  model_dir = mount / "run"

  def train():
    return gin_train(model_dir, *TWO_CHECKPOINTS)

  message = _one_line_error(capfd, train)  # 256 KB: clearly less than one checkpoint (about 2 MB)
  assert f"MODEL_DIR={model_dir} has" in message and "far less than one checkpoint needs" in message, message
  ledger(Fault("full_disk", "tmpfs of 256 KB at start: refused", False, 0))

  resize(1500)  # room for most of a checkpoint: tensorstore fails mid-write in orbax's background thread
  message = _one_line_error(capfd, train)
  assert "could not write checkpoint_2" in message and "No space left on device" in message, message
  assert "there is no earlier checkpoint; the partial checkpoint_2 was removed" in message, message
  assert not list(model_dir.glob("checkpoint_*")), list(model_dir.iterdir())
  ledger(Fault("full_disk", "ENOSPC in an async save (tmpfs of 1.5 MB)", False, 2))

  resize(3000)  # one checkpoint fits, a second does not: refused before writing, from the measured size
  message = _one_line_error(capfd, train)
  assert "could not write checkpoint_4" in message and "a checkpoint takes about" in message, message
  assert "earlier checkpoints are intact (steps [2])" in message, message
  ledger(Fault("full_disk", "tmpfs of 3 MB fills up at checkpoint_4", False, 2))

  resize(20000)
  capfd.readouterr()
  run = train()
  assert "resuming from" in capfd.readouterr().out and run.checkpoint_steps == [2, 4]
  assert not list(model_dir.glob("*.orbax-checkpoint-tmp*"))
  ledger(Fault("full_disk", "... rerun with room: resumed from checkpoint_2", True, 0))


def test_model_dir_turning_read_only_mid_run_is_one_line(tmpfs, capfd, ledger):
  """A read-only bind mount over MODEL_DIR once checkpoint_2 is committed: whatever write fails first (the
  metrics file, a checkpoint), the error is one line and releasing the lock does not bury it."""
  mount, resize = tmpfs
  resize(200000)  # ~100 checkpoints: under load the watcher thread can be late; a full disk is not this case
  model_dir = mount / "run"

  def freeze() -> None:
    deadline = time.monotonic() + 120
    while not (model_dir / "checkpoint_2").is_dir() and time.monotonic() < deadline:
      time.sleep(0.005)
    subprocess.run(["mount", "--bind", str(model_dir), str(model_dir)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(model_dir)], check=True)

  watcher = threading.Thread(target=freeze)
  watcher.start()
  try:
    message = _one_line_error(capfd, lambda: gin_train(model_dir, *FAST, "TRAIN_STEPS = 400", "CHECKPOINT_PERIOD = 2"))
  finally:
    watcher.join()
    subprocess.run(["umount", str(model_dir)], check=False)
  assert "could not write" in message and "Read-only file system" in message, message
  assert "earlier checkpoints are intact (steps [2" in message, message
  logged = max(r["step"] for r in summaries.read_metrics(model_dir))
  capfd.readouterr()
  gin_train(model_dir, *FAST, "TRAIN_STEPS = 5", "CHECKPOINT_PERIOD = 2")
  resumed = capfd.readouterr().out.split("resuming from")[1].splitlines()[0]
  saved = int(resumed.rsplit("_", 1)[1])
  ledger(Fault("read_only_model_dir", f"MODEL_DIR read-only after step {logged}", True, logged - saved))


# --- non-finite values --------------------------------------------------------------------------------------


def test_nan_under_halt_names_step_and_quantity_and_writes_no_checkpoint(tmp_path, monkeypatch, ledger):
  """The host reads the flags only every 4 steps (and at saves): the NaN at step 3 is still named exactly,
  and halts before checkpoint_4 could be written."""
  poison_steps(monkeypatch, 3)
  with pytest.raises(FlanxError, match=r"non-finite loss at step 3 \(NONFINITE_POLICY='halt'\)"):
    gin_train(tmp_path, *FAST, "TRAIN_STEPS = 6", "CHECKPOINT_PERIOD = 2", "LOG_PERIOD = 0", "HOST_SYNC_PERIOD = 4")
  assert sorted(p.name for p in tmp_path.glob("checkpoint_*")) == ["checkpoint_2"]
  ledger(Fault("nan_halt", "NaN loss at step 3", False, 1))


def test_nan_under_skip_skips_the_update_and_counts_it(tmp_path, monkeypatch, ledger):
  poison_steps(monkeypatch, 3)
  run = gin_train(tmp_path, *FAST, "TRAIN_STEPS = 4", "CHECKPOINT_PERIOD = 2", "NONFINITE_POLICY = 'skip'")
  rows = {r["step"]: r for r in summaries.read_metrics(tmp_path)}
  assert rows[3]["loss"] is None and rows[3]["finite/loss"] == 0.0 and rows[3]["skipped_updates"] == 1
  assert rows[4]["loss"] is not None and rows[4]["skipped_updates"] == 1
  assert run.checkpoint_steps == [2, 4]
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(run.state.params))
  ledger(Fault("nan_skip", "NaN loss at step 3", True, 0))


def test_skips_in_a_row_past_the_bound_halt(tmp_path, monkeypatch, ledger):
  """Poisoned steps 2-5 under 'skip' with MAX_CONSECUTIVE_SKIPS=3: the fourth skip in a row halts, and every
  checkpoint written holds finite parameters."""
  poison_steps(monkeypatch, 2, 3, 4, 5)
  with pytest.raises(FlanxError, match=r"non-finite loss at step 5: 4 updates in a row skipped, more than "
                                       r"MAX_CONSECUTIVE_SKIPS=3"):
    gin_train(tmp_path, *FAST, "TRAIN_STEPS = 8", "CHECKPOINT_PERIOD = 2", "NONFINITE_POLICY = 'skip'",
              "MAX_CONSECUTIVE_SKIPS = 3")
  steps = sorted(int(p.name.split("_")[1]) for p in tmp_path.glob("checkpoint_*"))
  assert steps and steps[-1] <= 4, steps
  for step in steps:
    params = checkpoints.load_params_numpy(tmp_path / f"checkpoint_{step}")
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(params))
  ledger(Fault("nan_skip_bound", "NaN loss at steps 2-5, MAX_CONSECUTIVE_SKIPS=3", False, 1))
