"""Multislice (`replica` over simulated slices) and 2-D parameter partitioning give the 1-device losses."""

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from tests.helpers import DEMO_LENGTHS, demo_batches, tiny_model
from flanx import partitioning
from flanx.optimizer import OptimizerConfig
from flanx.trainer import Trainer

# Factor every matrix so Adafactor's row/column moments (and their shardings) are exercised.
OPTIMIZER = OptimizerConfig(learning_rate=1e-2, min_dim_size_to_factor=16)


def _trainer(mesh_shape, rules):
  devices = jax.devices()[:int(np.prod(mesh_shape))]
  config = partitioning.PartitionConfig(mesh_shape=mesh_shape, rules=rules)
  return Trainer(tiny_model(), OPTIMIZER, partitioning.Partitioner(config, devices), DEMO_LENGTHS)


def _losses(trainer, batches):
  state = trainer.init_state(jax.random.key(0))
  losses = []
  for batch in batches:
    sharded = {k: jax.device_put(v, partitioning.batch_sharding(trainer.mesh)) for k, v in batch.items()}
    state, metrics = trainer.train_step(state, sharded, jax.random.key(1))
    losses.append(float(metrics["loss"]))
  return losses, state


@pytest.fixture(scope="module")
def batches():
  return demo_batches(4, batch_size=8)


@pytest.fixture(scope="module")
def one_device(batches):
  return _losses(_trainer((1, 1), "model_parallel"), batches)[0]


def test_multislice_replica_axis_matches_one_device(batches, one_device):
  # Two simulated slices of four devices each: replica=2 (DCN) x data=2 x model=2 (ICI).
  trainer = _trainer((2, 2, 2), "model_parallel")
  devices = jax.devices()[:8]
  for replica in range(2):  # each replica is one slice's block of devices
    assert set(trainer.mesh.devices[replica].flat) == set(devices[4 * replica:4 * replica + 4])
  losses, state = _losses(trainer, batches)
  np.testing.assert_allclose(losses, one_device, rtol=1e-4)
  assert one_device[-1] < one_device[0]
  # The batch is split over both replica and data; parameters are replicated across slices.
  assert partitioning.batch_sharding(trainer.mesh).spec == P(("replica", "data"))
  assert partitioning.data_parallel_size(trainer.mesh) == 4
  wi_0 = state.params["encoder"]["layers_0"]["mlp"]["wi_0"]
  assert wi_0.sharding.spec == P(None, "model")


def test_model_parallel_2d_matches_one_device(batches, one_device):
  trainer = _trainer((2, 4), "model_parallel_2d")
  losses, state = _losses(trainer, batches)
  np.testing.assert_allclose(losses, one_device, rtol=1e-4)
  params = state.params
  wi_0 = params["encoder"]["layers_0"]["mlp"]["wi_0"]
  assert wi_0.sharding.spec == P("data", "model")
  assert {s.data.shape for s in wi_0.addressable_shards} == {(32, 32)}  # (64, 128) split 2 x 4
  assert params["encoder"]["layers_0"]["attention"]["query"].sharding.spec == P("data", "model", None)
