"""Each plausible mistake on the command line gets one clear line, and no traceback."""

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT, gin_train
from flanx import partitioning, train
from flanx.errors import FlanxError


def _train_error(tmp_path, *args: str) -> str:
  with pytest.raises(FlanxError) as error:
    train.main(["--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{tmp_path / 'run'}'", "--gin.TRAIN_STEPS=1",
                "--gin.LOG_PERIOD=0", "--gin.train.show_predictions=0", *args])
  message = str(error.value)
  assert "\n" not in message
  return message


def test_unknown_gin_parameter(tmp_path):
  message = _train_error(tmp_path, "--gin.T5Config.emb_dimm=8")
  assert "emb_dimm" in message and "T5Config" in message


def test_unknown_gin_macro_suggests_the_closest(tmp_path):
  message = _train_error(tmp_path, "--gin.MODLE_DIR='/tmp/x'")
  assert "MODLE_DIR" in message and "MODEL_DIR" in message


def test_missing_gin_file(tmp_path):
  with pytest.raises(FlanxError, match="nope.gin"):
    train.main(["--gin_file=nope.gin"])


def test_unknown_mixture_lists_the_closest(tmp_path):
  message = _train_error(tmp_path, "--gin.MIXTURE_OR_TASK_NAME='flanx_dmeo'")
  assert "flanx_dmeo" in message and "'flanx_demo'" in message


def test_batch_not_divisible_by_data_parallel_size(tmp_path):
  message = _train_error(tmp_path, "--gin.BATCH_SIZE=12")  # 8 devices, all data-parallel
  assert "BATCH_SIZE=12" in message and "8" in message


def test_host_sync_period_below_one(tmp_path):
  assert _train_error(tmp_path, "--gin.HOST_SYNC_PERIOD=0") == "HOST_SYNC_PERIOD=0 must be at least 1"


def test_mesh_shape_that_does_not_match_the_devices():
  with pytest.raises(FlanxError, match=r"needs 6 devices, but 8 are available"):
    partitioning.make_mesh(partitioning.PartitionConfig(mesh_shape=(2, 3)))
  with pytest.raises(FlanxError, match="NUM_PARTITIONS=3"):
    partitioning.make_mesh(partitioning.PartitionConfig(num_partitions=3))


def test_model_dir_not_writable(tmp_path):
  locked = tmp_path / "locked"
  locked.mkdir()
  locked.chmod(0o500)
  try:
    if os.access(locked, os.W_OK):
      pytest.skip("running as a user who can write anywhere (root)")
    with pytest.raises(FlanxError, match="not writable"):
      train.main(["--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{locked / 'run'}'"])
  finally:
    locked.chmod(0o700)


def test_model_dir_that_is_a_file(tmp_path):
  (tmp_path / "file").write_text("x")
  message = _train_error(tmp_path, f"--gin.MODEL_DIR='{tmp_path / 'file' / 'run'}'")
  assert "MODEL_DIR" in message and "not writable" in message


def test_initial_checkpoint_missing_or_not_a_checkpoint(tmp_path):
  message = _train_error(tmp_path, f"--gin.INITIAL_CHECKPOINT_PATH='{tmp_path / 'missing'}'")
  assert "does not exist" in message and "INITIAL_CHECKPOINT_PATH" in message
  (tmp_path / "empty").mkdir()
  message = _train_error(tmp_path, f"--gin.INITIAL_CHECKPOINT_PATH='{tmp_path / 'empty'}'")
  assert "not a flanx checkpoint" in message


def test_initial_checkpoint_of_another_shape(tmp_path):
  gin_train(tmp_path / "small", "TRAIN_STEPS = 1", "T5Config.mlp_dim = 64")
  message = _train_error(tmp_path, f"--gin.INITIAL_CHECKPOINT_PATH='{tmp_path / 'small'}'")
  assert "does not match this model" in message and "INITIAL_CHECKPOINT_PATH" in message


def test_resuming_another_models_checkpoint_is_one_line_and_keeps_it(tmp_path):
  """An intact checkpoint of another model in MODEL_DIR is a mistake to report, not damage to move aside."""
  gin_train(tmp_path / "run", "TRAIN_STEPS = 1", "T5Config.mlp_dim = 64")
  message = _train_error(tmp_path)
  assert message.startswith(f"MODEL_DIR: checkpoint {tmp_path / 'run' / 'checkpoint_1'} does not match this model: "
                            f"parameter "), message
  assert "in the checkpoint but" in message
  assert (tmp_path / "run" / "checkpoint_1").is_dir() and not list((tmp_path / "run").glob("corrupt_*"))


def test_command_line_prints_one_line_without_traceback(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run(
      [sys.executable, "-m", "flanx.train", "--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{tmp_path}'",
       "--gin.MIXTURE_OR_TASK_NAME='no_such_mixture'"],
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  assert "Traceback" not in result.stderr
  error_lines = [line for line in result.stderr.splitlines() if line.startswith("flanx.train: error:")]
  assert len(error_lines) == 1 and "no_such_mixture" in error_lines[0]


def test_first_line_keeps_the_message_and_names_an_empty_one():
  from flanx.errors import first_line
  assert first_line(ValueError("\n  shape mismatch\n  In call to configurable 'train'\n")) == "shape mismatch"
  assert first_line(KeyError()) == "KeyError"
