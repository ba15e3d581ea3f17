"""Regression guard for the train step's speed properties, not its speed: in steady state it neither retraces
nor recompiles, and it donates the state it is given (the old buffers are freed, not copied)."""

import dataclasses

import jax
import numpy as np

from tests.helpers import DEMO_LENGTHS, tiny_model
from flanx import partitioning
from flanx.models import EncoderDecoderModel
from flanx.optimizer import OptimizerConfig
from flanx.trainer import Trainer


@dataclasses.dataclass(frozen=True)
class _TraceCountingModel(EncoderDecoderModel):
  """Counts how often the loss is traced: each retrace of the train step traces it again."""
  traces: list = dataclasses.field(default_factory=list, compare=False, hash=False)

  def loss_sums(self, params, batch, dropout_rng):
    self.traces.append(1)
    return super().loss_sums(params, batch, dropout_rng)


def _batch(step: int, batch_size: int = 8) -> dict[str, np.ndarray]:
  """A fresh host batch per step, as the input pipeline delivers them (new arrays, same shapes)."""
  rng = np.random.default_rng(step)
  enc, dec = (batch_size, DEMO_LENGTHS["inputs"]), (batch_size, DEMO_LENGTHS["targets"])
  targets = rng.integers(2, 384, dec, dtype=np.int32)
  return {"encoder_input_tokens": rng.integers(2, 384, enc, dtype=np.int32), "decoder_target_tokens": targets,
          "decoder_input_tokens": np.pad(targets[:, :-1], ((0, 0), (1, 0))),
          "decoder_loss_weights": np.ones(dec, np.int32)}


def test_steady_state_train_step_does_not_recompile_and_donates_its_state():
  base = tiny_model()
  model = _TraceCountingModel(base.config, base.vocabulary)
  config = partitioning.PartitionConfig(mesh_shape=(1, 2, 1), rules="model_parallel")
  partitioner = partitioning.Partitioner(config, jax.devices()[:2])
  trainer = Trainer(model, OptimizerConfig(), partitioner, DEMO_LENGTHS)
  state = trainer.init_state(jax.random.key(0))
  sharding = partitioner.batch_sharding

  state, metrics = trainer.train_step(state, jax.device_put(_batch(0), sharding), jax.random.key(1))  # compiles
  jax.block_until_ready(metrics)
  traces_after_first_step = len(model.traces)
  assert traces_after_first_step > 0
  for step in range(1, 4):
    # Adafactor keeps a (1,) placeholder for each moment a parameter does not use (T5X's layout);
    # jit prunes such unread inputs, and a pruned input is not donated. Every real buffer must be.
    old_leaves = [leaf for leaf in jax.tree.leaves(state) if leaf.size > 1]
    state, metrics = trainer.train_step(state, jax.device_put(_batch(step), sharding), jax.random.key(step))
    jax.block_until_ready(metrics)
    float(metrics["loss"])  # the host reading a metric must not make the next step retrace either
    freed = [leaf.is_deleted() for leaf in old_leaves]
    assert all(freed), f"step {step}: {freed.count(False)} of {len(freed)} state buffers were not donated"

  assert len(model.traces) == traces_after_first_step, "the train step was retraced in steady state"
  assert trainer._train_step.jitted._cache_size() == 1, "the train step was compiled more than once"
  assert int(state.step) == 4
