"""The T5 building blocks against hand-worked values."""

import jax
import jax.numpy as jnp
import numpy as np

from flanx.models import attention, layers


def test_relative_position_buckets_bidirectional():
  relative = jnp.array([0, 1, 2, 7, 8, 12, 127, 500, -1, -8, -500])
  buckets = layers.relative_position_bucket(relative, bidirectional=True, num_buckets=32, max_distance=128)
  # 16 buckets each way; offsets 0..7 exact; beyond, log-spaced up to 15; keys after the query add 16.
  # 12: 8 + int(log(12/8)/log(16) * 8) = 8 + 1; 127: 8 + int(log(127/8)/log(16) * 8) = 15.
  assert buckets.tolist() == [0, 17, 18, 23, 24, 25, 31, 31, 1, 8, 15]


def test_relative_position_buckets_causal():
  relative = jnp.array([0, -1, -15, -16, -20, -127, -1000, 5])
  buckets = layers.relative_position_bucket(relative, bidirectional=False, num_buckets=32, max_distance=128)
  # 16 exact buckets for distances 0..15, then 16 + int(log(d/16)/log(8) * 16); future keys -> 0.
  assert buckets.tolist() == [0, 1, 15, 16, 17, 31, 31, 0]


def test_attention_mask_blocks_padding_other_segments_and_future():
  valid = jnp.array([[True, True, True, False]])
  segments = jnp.array([[1, 1, 2, 0]])
  mask = layers.attention_mask(valid, valid, segments, segments, causal=True)[0, 0]
  expected = np.array([[1, 0, 0, 0],
                       [1, 1, 0, 0],
                       [0, 0, 1, 0],
                       [0, 0, 0, 0]], bool)
  np.testing.assert_array_equal(mask, expected)


def test_rms_norm_scales_by_root_mean_square():
  norm = layers.RMSNorm()
  x = jnp.array([[3.0, 4.0]])
  params = norm.init(jax.random.key(0), x)
  np.testing.assert_allclose(norm.apply(params, x), x / np.sqrt(12.5 + 1e-6), rtol=1e-6)


def test_add_shared_bias_matches_a_broadcast_add_in_value_and_gradients():
  logits = jax.random.normal(jax.random.key(0), (3, 2, 5, 7))
  bias = jax.random.normal(jax.random.key(1), (1, 2, 5, 7))
  weights = jax.random.normal(jax.random.key(2), logits.shape)

  def loss(add):
    return lambda x, b: jnp.sum(jnp.tanh(add(x, b)) * weights)

  np.testing.assert_allclose(attention.add_shared_bias(logits, bias), logits + bias, rtol=1e-6)
  expected = jax.grad(loss(jnp.add), argnums=(0, 1))(logits, bias)
  got = jax.jit(jax.grad(loss(attention.add_shared_bias), argnums=(0, 1)))(logits, bias)
  for e, g in zip(expected, got):
    assert g.shape == e.shape
    np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_add_shared_bias_rejects_a_per_row_bias():
  logits = jnp.zeros((2, 3, 4))
  try:
    jax.grad(lambda b: jnp.sum(attention.add_shared_bias(logits, b)))(jnp.zeros((2, 3, 4)))
  except ValueError as e:
    assert "must be (1, *logits.shape[1:])" in str(e)
  else:
    raise AssertionError("a (2, ...) bias was accepted")
