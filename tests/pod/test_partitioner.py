"""The Partitioner: one object for a model on a mesh, built once from a PartitionConfig."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from tests.helpers import DEMO_LENGTHS, tiny_model
from flanx import decoding, partitioning
from flanx.errors import FlanxError
from flanx.optimizer import OptimizerConfig
from flanx.trainer import Trainer


def test_mesh_rules_and_parameter_shardings_from_the_config():
  config = partitioning.PartitionConfig(mesh_shape=(2, 2, 2), rules="model_parallel_2d")
  partitioner = partitioning.Partitioner(config, jax.devices()[:8])
  assert dict(partitioner.mesh.shape) == {"replica": 2, "data": 2, "model": 2}
  assert partitioner.rules == partitioning.RULE_PRESETS["model_parallel_2d"]
  assert partitioner.data_parallel_size == 4
  shapes, logical = partitioner.abstract_params(tiny_model(), DEMO_LENGTHS)
  assert isinstance(shapes["encoder"]["layers_0"]["mlp"]["wi_0"], jax.ShapeDtypeStruct)  # nothing allocated
  shardings = partitioner.shardings(logical)
  assert shardings["encoder"]["layers_0"]["mlp"]["wi_0"].spec == P("data", "model")
  assert shardings["token_embedder"]["embedding"].spec == P("model", "data")


def test_jit_runs_inside_the_mesh_and_rules():
  partitioner = partitioning.Partitioner(partitioning.PartitionConfig(mesh_shape=(4, 2)), jax.devices()[:8])

  def constrained(x):  # a logical constraint resolves only under the partitioner's rules
    import flax.linen as nn
    return nn.with_logical_constraint(x * 2, ("batch", "mlp"))

  fn = partitioner.jit(constrained, out_shardings=partitioner.batch_sharding)
  out = fn(jnp.ones((8, 4)))
  np.testing.assert_allclose(np.asarray(out), 2.0)
  assert out.sharding.spec == partitioner.batch_sharding.spec
  assert fn.lower(jax.ShapeDtypeStruct((8, 4), jnp.float32)).compile() is not None  # lowering also in context


def test_trainer_takes_its_mesh_and_rules_from_the_partitioner():
  partitioner = partitioning.Partitioner(partitioning.PartitionConfig(mesh_shape=(2, 4), rules="fsdp"),
                                         jax.devices()[:8])
  trainer = Trainer(tiny_model(), OptimizerConfig(), partitioner, DEMO_LENGTHS)
  assert trainer.mesh is partitioner.mesh and trainer.rules == partitioner.rules
  assert trainer.param_shardings["encoder"]["layers_0"]["mlp"]["wi_0"].spec == P("data", None)


def test_parameters_for_inference_need_no_trainer():
  # Restoring, decoding and the benchmarks get parameter layouts and fresh parameters from the partitioner alone.
  partitioner = partitioning.Partitioner(partitioning.PartitionConfig(mesh_shape=(2, 4), rules="model_parallel_2d"),
                                         jax.devices()[:8])
  model = tiny_model()
  abstract = partitioner.sharded_abstract_params(model, DEMO_LENGTHS)
  wi = abstract["encoder"]["layers_0"]["mlp"]["wi_0"]
  assert isinstance(wi, jax.ShapeDtypeStruct) and wi.sharding.spec == P("data", "model")
  params = partitioner.init_params(model, DEMO_LENGTHS, jax.random.key(0))
  assert jax.tree.structure(params) == jax.tree.structure(abstract)
  for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(abstract)):
    assert got.shape == want.shape and got.dtype == want.dtype and got.sharding == want.sharding
  decoder = decoding.Decoder.for_model(model, partitioner, DEMO_LENGTHS)
  assert decoder.partitioner is partitioner
  assert decoder.param_shardings["token_embedder"]["embedding"].spec == P("model", "data")
  trainer = Trainer(model, OptimizerConfig(), partitioner, DEMO_LENGTHS)  # training lays parameters out the same
  assert jax.tree.leaves(trainer.param_shardings) == jax.tree.leaves(decoder.param_shardings)


def test_bad_configs_fail_at_construction():
  with pytest.raises(FlanxError, match="needs 16 devices"):
    partitioning.Partitioner(partitioning.PartitionConfig(mesh_shape=(4, 4)), jax.devices()[:8])
  with pytest.raises(FlanxError, match="unknown partitioning rules"):
    partitioning.Partitioner(partitioning.PartitionConfig(rules="fdsp"), jax.devices()[:1])
