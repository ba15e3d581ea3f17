"""The sharded train step: the same numbers on any mesh, sharded as the rules say, and it learns."""

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


def _trainer(mesh_shape, rules="model_parallel", num_microbatches=1, model=None):
  devices = jax.devices()[:int(np.prod(mesh_shape))]
  partitioner = partitioning.Partitioner(partitioning.PartitionConfig(mesh_shape=mesh_shape, rules=rules), devices)
  return Trainer(model or tiny_model(), OPTIMIZER, partitioner, DEMO_LENGTHS, num_microbatches)


def _run(trainer, batches):
  state = trainer.init_state(jax.random.key(0))
  losses = []
  for batch in batches:
    global_batch = {k: jax.device_put(v, partitioning.batch_sharding(trainer.mesh)) for k, v in batch.items()}
    state, metrics = trainer.train_step(state, global_batch, jax.random.key(1))
    losses.append(float(metrics["loss"]))
  return losses, state


@pytest.fixture(scope="module")
def ten_batches():
  return demo_batches(10, batch_size=8)


@pytest.fixture(scope="module")
def single_device_run(ten_batches):
  return _run(_trainer((1, 1)), ten_batches)


def test_losses_match_between_1x1_and_2x4_meshes(ten_batches, single_device_run):
  losses_1, state_1 = single_device_run
  trainer = _trainer((2, 4))
  losses_8, state_8 = _run(trainer, ten_batches)
  np.testing.assert_allclose(losses_8, losses_1, rtol=1e-4)
  assert losses_1[-1] < losses_1[0]
  for a, b in zip(jax.tree.leaves(state_1.params), jax.tree.leaves(state_8.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-5)

  # The parameters really are laid out as the model_parallel rules say.
  params = state_8.params
  assert params["encoder"]["layers_0"]["mlp"]["wi_0"].sharding.spec == P(None, "model")
  assert params["encoder"]["layers_0"]["mlp"]["wo"].sharding.spec == P("model", None)
  assert params["encoder"]["layers_0"]["attention"]["query"].sharding.spec == P(None, "model", None)
  assert params["token_embedder"]["embedding"].sharding.spec == P("model", None)
  assert params["decoder"]["logits_dense"].sharding.spec == P(None, "model")
  wi_0 = params["encoder"]["layers_0"]["mlp"]["wi_0"]
  assert {s.data.shape for s in wi_0.addressable_shards} == {(64, 32)}  # mlp 128 split 4 ways
  # Factored second moments follow their parameter: wi_0 (embed, mlp) -> v_row (embed,), v_col (mlp,).
  factored = state_8.opt_state[0] if isinstance(state_8.opt_state, tuple) else state_8.opt_state
  v_col = jax.tree.leaves(factored)  # any leaf placed on the mesh
  assert all(leaf.sharding.mesh.shape == trainer.mesh.shape for leaf in v_col)


def test_fsdp_shards_parameters_over_data(ten_batches, single_device_run):
  trainer = _trainer((4, 2), rules="fsdp")
  losses, state = _run(trainer, ten_batches[:1])
  np.testing.assert_allclose(losses, single_device_run[0][:1], rtol=1e-4)
  assert state.params["encoder"]["layers_0"]["mlp"]["wi_0"].sharding.spec == P("data", None)
  assert state.params["token_embedder"]["embedding"].sharding.spec == P(None, "data")


def test_optimizer_state_sharding_follows_factored_dimensions():
  mesh = partitioning.make_mesh(partitioning.PartitionConfig(mesh_shape=(2, 4)))
  from jax.sharding import NamedSharding
  param = jax.ShapeDtypeStruct((64, 128), np.float32)
  sharding = NamedSharding(mesh, P("data", "model"))
  state = {"v_row": {"w": jax.ShapeDtypeStruct((64,), np.float32)},
           "v_col": {"w": jax.ShapeDtypeStruct((128,), np.float32)},
           "v": {"w": jax.ShapeDtypeStruct((64, 128), np.float32)},
           "count": jax.ShapeDtypeStruct((), np.int32)}
  out = partitioning.optimizer_state_shardings(state, {"w": param}, {"w": sharding}, mesh)
  assert out["v_row"]["w"].spec == P("data")
  assert out["v_col"]["w"].spec == P("model")
  assert out["v"]["w"].spec == P("data", "model")
  assert out["count"].spec == P()


def test_gradient_accumulation_matches_one_big_batch(ten_batches, single_device_run):
  losses, _ = _run(_trainer((1, 1), num_microbatches=4), ten_batches[:2])
  np.testing.assert_allclose(losses, single_device_run[0][:2], rtol=1e-4)
