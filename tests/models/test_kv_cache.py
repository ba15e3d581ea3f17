"""The one KV cache: fill on the first pass, write at a position later, reorder rows on either batch axis."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from flanx.models import kv_cache


class _Cached(nn.Module):
  """Returns the keys/values it would attend over: its inputs, through the cache."""

  kind: str
  length: int | None = None

  @nn.compact
  def __call__(self, k, position=None):
    return kv_cache.cached_key_values(self, k, None if k is None else k + 100, self.kind, position, self.length)


def test_self_attention_cache_is_filled_padded_then_written_at_a_position():
  # (batch 2, heads 1, length 3, kv 1): length is the second-to-last axis
  prompt = jnp.arange(1, 7, dtype=jnp.float32).reshape(2, 1, 3, 1)
  module = _Cached("self", length=5)
  (k, v), variables = module.apply({}, prompt, mutable=["cache"])
  np.testing.assert_array_equal(k, prompt)  # the first pass attends over its own keys, unpadded
  np.testing.assert_array_equal(variables["cache"]["cached_key"][:, 0, :, 0], [[1, 2, 3, 0, 0], [4, 5, 6, 0, 0]])
  (k, v), variables = module.apply(variables, jnp.array([7.0, 8.0]).reshape(2, 1, 1, 1), jnp.int32(3),
                                   mutable=["cache"])
  np.testing.assert_array_equal(k[:, 0, :, 0], [[1, 2, 3, 7, 0], [4, 5, 6, 8, 0]])
  np.testing.assert_array_equal(v[:, 0, :, 0], [[101, 102, 103, 107, 0], [104, 105, 106, 108, 0]])
  np.testing.assert_array_equal(variables["cache"]["cached_key"], k)


def test_cache_without_a_heads_axis_writes_on_the_length_axis():
  # multi-query attention caches one key/value head: (batch, length, kv)
  prompt = jnp.arange(1, 13, dtype=jnp.float32).reshape(2, 3, 2)
  module = _Cached("self", length=4)
  _, variables = module.apply({}, prompt, mutable=["cache"])
  (k, _), _ = module.apply(variables, jnp.full((2, 1, 2), -1.0), jnp.int32(3), mutable=["cache"])
  assert k.shape == (2, 4, 2)
  np.testing.assert_array_equal(k[:, :3], prompt)
  np.testing.assert_array_equal(k[:, 3], -np.ones((2, 2)))


def test_cross_attention_cache_keeps_the_memory():
  memory = jnp.ones((2, 3, 4, 5))
  module = _Cached("cross", length=9)  # a memory is never padded
  _, variables = module.apply({}, memory, mutable=["cache"])
  (k, v), _ = module.apply(variables, None, mutable=["cache"])
  np.testing.assert_array_equal(k, memory)
  np.testing.assert_array_equal(v, memory + 100)


def test_write_casts_to_the_cache_dtype():
  cache = jnp.zeros((1, 3, 4, 2), jnp.bfloat16)
  out = kv_cache.write(cache, jnp.full((1, 3, 1, 2), 1.5, jnp.float32), jnp.int32(2))
  assert out.dtype == jnp.bfloat16
  np.testing.assert_array_equal(np.asarray(out, np.float32)[0, :, :, 0], [[0, 0, 1.5, 0]] * 3)


def test_take_rows_on_either_batch_axis():
  rows = {"lengths": jnp.array([3, 5, 7])}
  looped = {"layers_0": {"cached_key": jnp.arange(3 * 2).reshape(3, 2)}}  # batch first
  scanned = {"layers": {"cached_key": jnp.arange(4 * 3).reshape(4, 3)}}  # layers first, then batch
  order = jnp.array([2, 0, 0])
  a = kv_cache.KVCache(looped, rows, length=2, batch_axis=0).take_rows(order)
  np.testing.assert_array_equal(a.layers["layers_0"]["cached_key"], [[4, 5], [0, 1], [0, 1]])
  np.testing.assert_array_equal(a.rows["lengths"], [7, 3, 3])
  b = kv_cache.KVCache(scanned, rows, length=2, batch_axis=1).take_rows(order)
  np.testing.assert_array_equal(b.layers["layers"]["cached_key"], np.arange(12).reshape(4, 3)[:, [2, 0, 0]])
  assert b.length == 2 and b.batch_axis == 1
  assert jax.tree.structure(jax.jit(lambda c: c)(b)) == jax.tree.structure(b)  # static fields survive jit
