"""Multislice (`replica` over simulated slices) and 2-D parameter partitioning give the 1-device losses."""

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from tests.helpers import demo_batches, train_losses, trainer_on
from flanx import partitioning


@pytest.fixture(scope="module")
def batches():
  return demo_batches(4, batch_size=8)


@pytest.fixture(scope="module")
def one_device(batches):
  return train_losses(trainer_on((1, 1), "model_parallel"), batches)[0]


def test_multislice_replica_axis_matches_one_device(batches, one_device):
  # Two simulated slices of four devices each: replica=2 (DCN) x data=2 x model=2 (ICI).
  trainer = trainer_on((2, 2, 2), "model_parallel")
  devices = jax.devices()[:8]
  for replica in range(2):  # each replica is one slice's block of devices
    assert set(trainer.mesh.devices[replica].flat) == set(devices[4 * replica:4 * replica + 4])
  losses, state = train_losses(trainer, batches)
  np.testing.assert_allclose(losses, one_device, rtol=1e-4)
  assert one_device[-1] < one_device[0]
  # The batch is split over both replica and data; parameters are replicated across slices.
  assert partitioning.batch_sharding(trainer.mesh).spec == P(("replica", "data"))
  assert partitioning.data_parallel_size(trainer.mesh) == 4
  wi_0 = state.params["encoder"]["layers_0"]["mlp"]["wi_0"]
  assert wi_0.sharding.spec == P(None, "model")


def test_model_parallel_2d_matches_one_device(batches, one_device):
  trainer = trainer_on((2, 4), "model_parallel_2d")
  losses, state = train_losses(trainer, batches)
  np.testing.assert_allclose(losses, one_device, rtol=1e-4)
  params = state.params
  wi_0 = params["encoder"]["layers_0"]["mlp"]["wi_0"]
  assert wi_0.sharding.spec == P("data", "model")
  assert {s.data.shape for s in wi_0.addressable_shards} == {(32, 32)}  # (64, 128) split 2 x 4
  assert params["encoder"]["layers_0"]["attention"]["query"].sharding.spec == P("data", "model", None)
