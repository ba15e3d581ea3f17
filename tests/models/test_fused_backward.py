"""attend and gated_mlp: values and gradients equal plain autodiff of the same math, in float64."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flanx.models import layers
from flanx.models.attention import MASK_VALUE, attend, plain_attend
from flanx.models.dropout import DropoutKeep
from flanx.models.gated_mlp import gated_mlp, plain_gated_mlp

B, Q, T, H, D = 3, 5, 7, 2, 4


@pytest.fixture(autouse=True)
def float64():
  jax.config.update("jax_enable_x64", True)
  yield
  jax.config.update("jax_enable_x64", False)


def inputs(seed=0):
  keys = jax.random.split(jax.random.key(seed), 6)
  q = jax.random.normal(keys[0], (B, Q, H, D), jnp.float64)
  k = jax.random.normal(keys[1], (B, T, H, D), jnp.float64)
  v = jax.random.normal(keys[2], (B, T, H, D), jnp.float64)
  bias = jax.random.normal(keys[3], (1, H, Q, T), jnp.float64)
  out_weights = jax.random.normal(keys[4], (B, Q, H, D), jnp.float64)
  # Padding and two packed segments: row 0 is full, row 1 has padded queries (rows with no allowed key),
  # row 2 holds two segments.
  q_seg = jnp.array([[1] * Q, [1, 1, 1, 0, 0], [1, 1, 2, 2, 2]])
  k_seg = jnp.array([[1] * T, [1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 2, 2, 2, 0]])
  mask = layers.attention_mask(q_seg > 0, k_seg > 0, q_seg, k_seg)
  return q, k, v, bias, mask, out_weights


def assert_attend_matches_autodiff(bias_on, mask_on, keep=None, rate=0.0):
  q, k, v, bias, mask, out_weights = inputs()
  bias = bias if bias_on else None
  mask = mask if mask_on else None

  def loss(core):
    # A loss that reads every output row, padded queries included, so their gradients are exercised.
    return lambda q, k, v, bias: jnp.sum(jnp.tanh(core(q, k, v, bias, mask, keep, rate)) * out_weights)

  np.testing.assert_allclose(attend(q, k, v, bias, mask, keep, rate),
                             plain_attend(q, k, v, bias, mask, keep, rate), rtol=1e-12, atol=1e-12)
  argnums = (0, 1, 2, 3) if bias_on else (0, 1, 2)
  expected = jax.grad(loss(plain_attend), argnums)(q, k, v, bias)
  got = jax.jit(jax.grad(loss(attend), argnums))(q, k, v, bias)
  for name, e, g in zip("q k v bias".split(), expected, got):
    assert g.shape == e.shape and g.dtype == e.dtype, name
    np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=f"gradient of {name}")


@pytest.mark.parametrize("bias_on,mask_on", [(False, False), (True, False), (False, True), (True, True)])
def test_attend_matches_autodiff(bias_on, mask_on):
  assert_attend_matches_autodiff(bias_on, mask_on)


def test_attend_matches_autodiff_with_dropout():
  keep = jax.random.bernoulli(jax.random.key(7), 0.7, (B, H, Q, T))
  assert_attend_matches_autodiff(True, True, keep, 0.3)


def test_attend_gives_no_gradient_through_queries_with_no_allowed_key():
  q, k, v, bias, mask, _ = inputs()
  grad_q = jax.grad(lambda q: jnp.sum(attend(q, k, v, bias, mask) ** 2))(q)
  # Row 1's queries 3 and 4 are padding: every key masked, so their logits (and q) get no gradient.
  assert float(jnp.max(jnp.abs(grad_q[1, 3:]))) == 0.0
  assert float(jnp.min(jnp.abs(grad_q[1, :3]))) > 0.0


def test_attend_rejects_mismatched_shapes():
  q, k, v, bias, _, _ = inputs()
  with pytest.raises(ValueError, match="attend: bias"):
    attend(q, k, v, bias[:, :, :, :3])
  with pytest.raises(ValueError, match="attend: q"):
    attend(q, k, v[:, :3])
  with pytest.raises(ValueError, match="attend: dropout_keep"):
    attend(q, k, v, dropout_keep=jnp.ones((B, H, Q, Q), bool), dropout_rate=0.5)


@pytest.mark.parametrize("activation", [lambda x: nn.gelu(x, approximate=True), nn.silu], ids=["gelu", "silu"])
@pytest.mark.parametrize("dropout", [False, True])
def test_gated_mlp_matches_autodiff(activation, dropout):
  keys = jax.random.split(jax.random.key(1), 6)
  x = jax.random.normal(keys[0], (2, 3, 4), jnp.float64)
  wi_0, wi_1 = (jax.random.normal(keys[i], (4, 6), jnp.float64) for i in (1, 2))
  wo = jax.random.normal(keys[3], (6, 4), jnp.float64)
  out_weights = jax.random.normal(keys[4], (2, 3, 4), jnp.float64)
  keep, rate = (jax.random.bernoulli(keys[5], 0.6, (2, 3, 6)), 0.4) if dropout else (None, 0.0)

  def loss(core):
    return lambda *a: jnp.sum(jnp.tanh(core(*a, activation, keep, rate)) * out_weights)

  args = (x, wi_0, wi_1, wo)
  np.testing.assert_allclose(gated_mlp(*args, activation, keep, rate), plain_gated_mlp(*args, activation, keep, rate),
                             rtol=1e-12, atol=1e-12)
  expected = jax.grad(loss(plain_gated_mlp), (0, 1, 2, 3))(*args)
  got = jax.jit(jax.grad(loss(gated_mlp), (0, 1, 2, 3)))(*args)
  for name, e, g in zip(("x", "wi_0", "wi_1", "wo"), expected, got):
    assert g.shape == e.shape and g.dtype == e.dtype, name
    np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=f"gradient of {name}")


def test_gated_mlp_rejects_mismatched_shapes():
  x = jnp.zeros((2, 4))
  with pytest.raises(ValueError, match="gated_mlp: x"):
    gated_mlp(x, jnp.zeros((4, 6)), jnp.zeros((4, 5)), jnp.zeros((6, 4)), nn.silu)
  with pytest.raises(ValueError, match="gated_mlp: dropout_keep"):
    gated_mlp(x, jnp.zeros((4, 6)), jnp.zeros((4, 6)), jnp.zeros((6, 4)), nn.silu, jnp.ones((2, 4), bool), 0.1)


class PlainDropoutAttention(nn.Module):
  """Attention's non-decode path as it was before attend: flax's Dropout on the weights."""

  @nn.compact
  def __call__(self, q, k, v, bias, mask):
    logits = jnp.where(mask, jnp.einsum("bqhk,bthk->bhqt", q, k) + bias, MASK_VALUE)
    weights = nn.Dropout(0.3)(jax.nn.softmax(logits, axis=-1), deterministic=False)
    return jnp.einsum("bhqt,bthk->bqhk", weights, v)


class KeepAttention(nn.Module):
  @nn.compact
  def __call__(self, q, k, v, bias, mask):
    keep = DropoutKeep(0.3, name="Dropout_0")((B, H, Q, T), deterministic=False)
    return attend(q, k, v, bias, mask, keep, 0.3)


def test_dropout_keep_draws_flax_dropouts_mask_from_the_same_rng():
  q, k, v, bias, mask, _ = inputs()
  rngs = {"dropout": jax.random.key(3)}
  before = PlainDropoutAttention().apply({}, q, k, v, bias, mask, rngs=rngs)
  after = KeepAttention().apply({}, q, k, v, bias, mask, rngs=rngs)
  np.testing.assert_allclose(after, before, rtol=1e-12, atol=1e-12)
  other = KeepAttention().apply({}, q, k, v, bias, mask, rngs={"dropout": jax.random.key(4)})
  assert not np.allclose(other, before)  # the comparison above can fail: another rng gives another mask
