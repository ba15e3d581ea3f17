"""Model-level properties: packing isolation, scan and remat equivalence, loss pieces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import DEMO_LENGTHS, demo_batches, tiny_model
from flanx import losses
from flanx.models import t5


def _params(model):
  return jax.tree.map(lambda x: x, __import__("flax").linen.meta.unbox(model.init(jax.random.key(0), DEMO_LENGTHS)))


def _one_sequence(tokens_in, tokens_out, lengths):
  """An unpacked batch of one example, padded to the given lengths."""
  enc = np.zeros((1, lengths["inputs"]), np.int32)
  enc[0, :len(tokens_in)] = tokens_in
  tgt = np.zeros((1, lengths["targets"]), np.int32)
  tgt[0, :len(tokens_out)] = tokens_out
  dec_in = np.zeros_like(tgt)
  dec_in[0, 1:len(tokens_out)] = tokens_out[:-1]
  return {"encoder_input_tokens": enc, "decoder_target_tokens": tgt, "decoder_input_tokens": dec_in,
          "decoder_loss_weights": (tgt > 0).astype(np.int32)}


def test_packed_examples_do_not_see_each_other():
  """The loss of a packed row equals the sum of its examples' losses computed one at a time."""
  model = tiny_model()
  params = _params(model)
  lengths = {"inputs": 64, "targets": 32}
  packed = demo_batches(1, batch_size=1, lengths=lengths)[0]
  assert packed["encoder_segment_ids"].max() >= 2, "the fixture row should hold several examples"
  cross_entropy = jax.jit(lambda p, b: model.loss_sums(p, b, None)["cross_entropy"])
  packed_sum = cross_entropy(params, packed)
  separate = 0.0
  for seg in range(1, int(packed["encoder_segment_ids"].max()) + 1):
    enc = packed["encoder_input_tokens"][0][packed["encoder_segment_ids"][0] == seg]
    tgt = packed["decoder_target_tokens"][0][packed["decoder_segment_ids"][0] == seg]
    separate += cross_entropy(params, _one_sequence(enc, tgt, lengths))
  np.testing.assert_allclose(packed_sum, separate, rtol=2e-5)


def _to_scanned(params, num_enc, num_dec):
  """Loop-layout parameters (layers_0, layers_1, ...) -> scan layout (one `layers` tree, stacked)."""
  out = jax.tree.map(lambda x: x, params)
  for stack, n in (("encoder", num_enc), ("decoder", num_dec)):
    layers_ = [out[stack].pop(f"layers_{i}") for i in range(n)]
    out[stack]["layers"] = jax.tree.map(lambda *xs: jnp.stack(xs), *layers_)
  return out


def test_scan_and_remat_compute_the_same_loss_and_grads():
  batch = demo_batches(1, batch_size=2)[0]
  loop = tiny_model()
  scanned = tiny_model(scan_layers=True, remat_policy="full")
  params = _params(loop)
  scanned_params = _to_scanned(params, 2, 2)
  assert jax.tree.structure(scanned_params) == jax.tree.structure(_params(scanned))

  def loss(model, p):
    return model.loss_sums(p, batch, None)["objective"]

  l1, g1 = jax.jit(jax.value_and_grad(lambda p: loss(loop, p)))(params)
  l2, g2 = jax.jit(jax.value_and_grad(lambda p: loss(scanned, p)))(scanned_params)
  np.testing.assert_allclose(l1, l2, rtol=1e-5)
  g1 = _to_scanned(g1, 2, 2)
  for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_scanned_parameters_carry_the_layers_axis():
  model = tiny_model(scan_layers=True)
  boxed = model.init(jax.random.key(0), DEMO_LENGTHS)
  spec = __import__("flax").linen.get_partition_spec(boxed)
  assert tuple(spec["encoder"]["layers"]["mlp"]["wi_0"]) == ("layers", "embed", "mlp")


def test_z_loss_term():
  logits = jnp.array([[[2.0, 0.0, -1.0]]])
  targets = jnp.array([[0]])
  total, z = losses.cross_entropy_with_z_loss(logits, targets, z_loss=0.1)
  log_z = np.log(np.exp(2.0) + 1.0 + np.exp(-1.0))
  np.testing.assert_allclose(z, 0.1 * log_z ** 2, rtol=1e-6)
  np.testing.assert_allclose(total, log_z - 2.0 + 0.1 * log_z ** 2, rtol=1e-6)


def test_normalizing_factors():
  weights = jnp.array([[1, 1, 0, 0], [1, 0, 0, 0]])
  assert float(losses.normalizing_factor("NUM_REAL_TARGET_TOKENS", weights)) == 3.0
  assert float(losses.normalizing_factor("NUM_TOTAL_TARGET_TOKENS", weights)) == 8.0
  assert float(losses.normalizing_factor(233472.0, weights)) == 233472.0
  with pytest.raises(Exception, match="LOSS_NORMALIZING_FACTOR"):
    losses.normalizing_factor("PER_TOKEN", weights)


def test_unknown_remat_policy_is_rejected():
  with pytest.raises(Exception, match="remat_policy"):
    t5.T5Config(remat_policy="everything")


def test_flops_count_matches_parameter_count_for_long_vocab_free_models():
  # With attention-score terms negligible (length 1), forward FLOPs are 2 per weight per token.
  model = tiny_model(num_decoder_layers=0)
  lengths = {"inputs": 1, "targets": 1}
  c = model.config
  per_layer_weights = 4 * c.emb_dim * c.num_heads * c.head_dim + 3 * c.emb_dim * c.mlp_dim
  expected = 3 * (2 * per_layer_weights * c.num_encoder_layers + 2 * c.emb_dim * c.vocab_size
                  + c.num_encoder_layers * 2 * 2 * c.num_heads * c.head_dim)
  assert model.flops_per_example(lengths) == expected
