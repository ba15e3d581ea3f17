"""The input pipeline's position travels with every checkpoint (flanx/input/position.py)."""

import shutil

import orbax.checkpoint as ocp

from flanx import checkpoints, checksums
from tests.helpers import gin_train

FAST = ("BATCH_SIZE = 8", "TASK_FEATURE_LENGTHS = {'inputs': 16, 'targets': 8}", "CHECKPOINT_PERIOD = 2")


def _position(model_dir, step: int) -> dict:
  return ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(model_dir / f"checkpoint_{step}" /
                                                               checkpoints.DATA_POSITION)


def test_position_is_saved_and_a_changed_pipeline_is_reported(tmp_path, capsys):
  gin_train(tmp_path, *FAST, "TRAIN_STEPS = 2")
  saved = _position(tmp_path, 2)
  assert saved["batches"] == 2
  assert saved["pipeline"]["mixture_or_task_name"] == "flanx_demo" and saved["pipeline"]["batch_size"] == 8

  capsys.readouterr()
  gin_train(tmp_path, *FAST, "TRAIN_STEPS = 3", "BATCH_SIZE = 16")
  out = capsys.readouterr().out
  assert "the input pipeline changed since the checkpoint (batch_size 8 -> 16)" in out, out[-2000:]
  assert "continues with batch 3 of the new pipeline" in out
  assert _position(tmp_path, 3) == {"batches": 3, "pipeline": {**saved["pipeline"], "batch_size": 16}}


def test_checkpoint_without_position_resumes_at_its_step(tmp_path, capsys):
  """Checkpoints written before positions were saved: the step is the position, silently."""
  gin_train(tmp_path, *FAST, "TRAIN_STEPS = 2")
  shutil.rmtree(tmp_path / "checkpoint_2" / checkpoints.DATA_POSITION)
  (tmp_path / "checkpoint_2" / checksums.MANIFEST).unlink()  # those predate checksums too (else: damage)
  capsys.readouterr()
  gin_train(tmp_path, *FAST, "TRAIN_STEPS = 3")
  assert "pipeline changed" not in capsys.readouterr().out
  assert _position(tmp_path, 3)["batches"] == 3
