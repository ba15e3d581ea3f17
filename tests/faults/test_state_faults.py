"""Faults inside a run, driven in-process (no start-up cost): damaged checkpoints, an unwritable disk, NaNs."""

import errno
import os

import numpy as np
import pytest

from tests.faults.harness import Fault, poison_steps
from tests.helpers import gin_train
from flanx import summaries
from flanx.errors import FlanxError

FAST = ("BATCH_SIZE = 8", "TASK_FEATURE_LENGTHS = {'inputs': 16, 'targets': 8}", "KEEP_CHECKPOINTS = None")


def test_truncated_latest_checkpoint_falls_back_with_warning(tmp_path, capsys, ledger):
  gin_train(tmp_path, *FAST, "TRAIN_STEPS = 4", "CHECKPOINT_PERIOD = 2")
  biggest = max((p for p in (tmp_path / "checkpoint_4").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
  biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 3])
  capsys.readouterr()
  run = gin_train(tmp_path, *FAST, "TRAIN_STEPS = 5", "CHECKPOINT_PERIOD = 2")
  err = capsys.readouterr()
  assert "checkpoint_4 cannot be restored" in err.err and "restored checkpoint_2 instead" in err.err, err.err[-2000:]
  assert "resuming from" in err.out and "checkpoint_2" in err.out.split("resuming from")[1].splitlines()[0]
  assert (tmp_path / "corrupt_checkpoint_4").is_dir()
  assert run.checkpoint_steps == [2, 4, 5]  # 4 rewritten from the good state
  ledger(Fault("truncated_checkpoint", f"truncate {biggest.name} of checkpoint_4", True, 2))


def test_unwritable_disk_at_save_gives_one_line_error_and_keeps_older_checkpoints(tmp_path, monkeypatch, ledger):
  """Tests may run as root, where chmod does not stop writes: the disk is made 'full' at orbax's directory
  creation for checkpoint_4 instead (ENOSPC, as a full disk reports it)."""
  mkdir = os.mkdir

  def full_disk(path, *args, **kwargs):
    if "checkpoint_4" in str(path):
      raise OSError(errno.ENOSPC, "No space left on device", str(path))
    return mkdir(path, *args, **kwargs)

  monkeypatch.setattr(os, "mkdir", full_disk)
  with pytest.raises(FlanxError) as e:
    gin_train(tmp_path, *FAST, "TRAIN_STEPS = 4", "CHECKPOINT_PERIOD = 2", "train.async_checkpointing = False")
  message = str(e.value)
  assert len(message.splitlines()) == 1
  assert "could not write checkpoint_4" in message and "No space left on device" in message, message
  assert "earlier checkpoints are intact (steps [2])" in message
  monkeypatch.undo()
  assert [p.name for p in tmp_path.glob("checkpoint_*")] == ["checkpoint_2"]
  run = gin_train(tmp_path, *FAST, "TRAIN_STEPS = 4", "CHECKPOINT_PERIOD = 2")  # checkpoint_2 still restores
  assert run.checkpoint_steps == [2, 4]
  ledger(Fault("unwritable_disk", "ENOSPC writing checkpoint_4", True, 2))


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
  assert all(np.isfinite(np.asarray(x)).all() for x in __import__("jax").tree.leaves(run.state.params))
  ledger(Fault("nan_skip", "NaN loss at step 3", True, 0))
