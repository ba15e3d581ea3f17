"""The sharded train step: the same numbers on any mesh, sharded as the rules say, and it learns."""

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from tests.helpers import DEMO_LENGTHS, demo_batches, train_losses, trainer_on


@pytest.fixture(scope="module")
def ten_batches():
  return demo_batches(10, batch_size=8)


@pytest.fixture(scope="module")
def single_device_run(ten_batches):
  return train_losses(trainer_on((1, 1)), ten_batches)


def test_losses_match_between_1x1_and_2x4_meshes(ten_batches, single_device_run):
  losses_1, state_1 = single_device_run
  trainer = trainer_on((2, 4))
  losses_8, state_8 = train_losses(trainer, ten_batches)
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
  # Factored second moments follow their parameter: query (embed, heads, kv) -> v_row (embed,) replicated,
  # v_col (heads, kv) split over `model` as the heads are.
  opt = state_8.opt_state
  assert opt.v_row["encoder"]["layers_0"]["attention"]["query"].sharding.spec == P(None)
  assert opt.v_col["encoder"]["layers_0"]["attention"]["query"].sharding.spec == P("model", None)
  assert opt.v_col["encoder"]["layers_0"]["mlp"]["wi_0"].sharding.spec == P("model")
  assert all(leaf.sharding.mesh.shape == trainer.mesh.shape for leaf in jax.tree.leaves(opt))


def test_fsdp_shards_parameters_over_data(ten_batches, single_device_run):
  trainer = trainer_on((4, 2), rules="fsdp")
  losses, state = train_losses(trainer, ten_batches[:1])
  np.testing.assert_allclose(losses, single_device_run[0][:1], rtol=1e-4)
  assert state.params["encoder"]["layers_0"]["mlp"]["wi_0"].sharding.spec == P("data", None)
  assert state.params["token_embedder"]["embedding"].sharding.spec == P(None, "data")


def test_gradient_accumulation_matches_one_big_batch(ten_batches, single_device_run):
  losses, _ = train_losses(trainer_on((1, 1), num_microbatches=4), ten_batches[:2])
  np.testing.assert_allclose(losses, single_device_run[0][:2], rtol=1e-4)


@pytest.mark.parametrize("num_microbatches", [1, 2])
def test_the_train_step_computes_the_loss_normaliser_once(monkeypatch, num_microbatches):
  # It scales the gradients and the reported loss: one computation serves both (counted while tracing).
  from flanx import losses
  calls = []
  normalizing_factor = losses.normalizing_factor
  monkeypatch.setattr(losses, "normalizing_factor", lambda *a, **k: calls.append(1) or normalizing_factor(*a, **k))
  trainer = trainer_on((1, 1), num_microbatches=num_microbatches)
  names = ("encoder_input_tokens", "decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights")
  batch = {k: jax.ShapeDtypeStruct((4, DEMO_LENGTHS["targets" if k.startswith("decoder") else "inputs"]), np.int32)
           for k in names}
  trainer.lower_train_step(trainer.abstract_state(), batch, jax.random.key(1))
  assert len(calls) == 1
