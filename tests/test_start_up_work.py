"""Start-up and restore do each piece of work once: one trace of the parameters' shapes serves the even-split check
and the Trainer or the restore, one read of the optimizer state's metadata serves both of its checks, and one
function decides whether MODEL_DIR has room for a checkpoint."""

import jax
import orbax.checkpoint as ocp
import pytest

from flanx import checkpoints, partitioning, storage, train
from flanx.errors import FlanxError
from tests.helpers import DEMO_LENGTHS, gin_train, tiny_model, trainer_on


@pytest.fixture
def traces(monkeypatch) -> list:
  """Every trace of a model's parameters (partitioning's one tracing function), as it happens."""
  calls = []
  boxed_params = partitioning._boxed_params
  monkeypatch.setattr(partitioning, "_boxed_params", lambda *a: calls.append(1) or boxed_params(*a))
  return calls


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  """(model directory, trainer) of one freshly initialised tiny model's checkpoint at step 3."""
  model_dir = tmp_path_factory.mktemp("saved")
  trainer = trainer_on((1, 1))
  state = trainer.init_state(jax.random.key(0))
  writer = checkpoints.Checkpointer(model_dir, period=1, async_save=False)
  writer.save(state.replace(step=jax.numpy.int32(3)), {"consumed": 0})
  writer.close()
  return model_dir, trainer


class _Stop(Exception):
  pass


def test_train_traces_the_parameters_once(tmp_path, monkeypatch, traces):
  seen = {}

  def stop(trainer, *args):  # the state is restored or initialised next: what came before is start-up
    seen["trainer"] = trainer
    raise _Stop
  monkeypatch.setattr(train, "_initial_state", stop)
  with pytest.raises(_Stop):
    gin_train(tmp_path, "BATCH_SIZE = 8", "TASK_FEATURE_LENGTHS = {'inputs': 16, 'targets': 8}", "TRAIN_STEPS = 1")
  assert len(traces) == 1
  # The trace the split check made is the one the Trainer holds, as it would have traced it itself.
  trainer = seen["trainer"]
  shapes, specs = trainer.partitioner.abstract_params(trainer.model, trainer.feature_lengths)
  assert trainer.param_shapes == shapes and trainer.param_logical_specs == specs


def test_restore_for_inference_traces_the_parameters_once(saved, traces):
  model_dir, trainer = saved
  loaded = checkpoints.restore_for_inference(tiny_model(), str(model_dir), DEMO_LENGTHS)
  assert len(traces) == 1
  assert jax.tree.map(lambda a: (a.shape, a.dtype), loaded.params) == jax.tree.map(lambda a: (a.shape, a.dtype),
                                                                                    trainer.param_shapes)


def test_a_restore_reads_each_items_metadata_once(saved, monkeypatch):
  model_dir, trainer = saved
  reads = []
  metadata = ocp.StandardCheckpointer.metadata
  monkeypatch.setattr(ocp.StandardCheckpointer, "metadata",
                      lambda self, directory, *a: reads.append(directory.name) or metadata(self, directory, *a))
  restored = checkpoints.Checkpointer(model_dir, period=1).restore_latest(trainer.abstract_state())
  assert int(restored.state.step) == 3
  assert sorted(reads) == ["opt_state", "params"]


@pytest.mark.parametrize("free_after_estimate", [0, -1])
def test_start_and_save_share_one_room_check(saved, tmp_path, monkeypatch, free_after_estimate):
  """The same threshold (one checkpoint's estimated bytes) and the same free bytes refuse, or pass, both."""
  _, trainer = saved
  needed = checkpoints.state_bytes(trainer.abstract_state()) // 2
  monkeypatch.setattr(storage, "free_bytes", lambda directory: needed + free_after_estimate)
  checkpointer = checkpoints.Checkpointer(tmp_path, period=1)
  if free_after_estimate >= 0:
    checkpointer.check_room_to_start(trainer.abstract_state())
    checkpointer._check_room(5)
    return
  with pytest.raises(FlanxError, match=f"MODEL_DIR={tmp_path} has .* free, far less than one checkpoint needs"):
    checkpointer.check_room_to_start(trainer.abstract_state())
  with pytest.raises(FlanxError, match=f"could not write checkpoint_5 under {tmp_path}: .* free, a checkpoint takes "
                                       f"about .*; there is no earlier checkpoint; free some space"):
    checkpointer._check_room(5)
