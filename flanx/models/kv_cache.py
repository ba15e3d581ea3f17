"""The KV cache both model families decode with: one layout, one write-at-position update, one container.

Inside the modules every attention layer keeps its keys and values in flax's "cache" collection
(`cached_key_values`): `cached_key` and `cached_value`, (batch, [heads,] cache length, kv) per layer, or
with a leading `layers` axis when the layers run as one nn.scan. Length is the second-to-last axis so that a
decoding step's two products, (1 x kv) by (kv x length) and (1 x length) by (length x kv) per row and head,
read the cache as it is stored: with length before the heads, XLA:CPU copied every layer's cache into that
order at every step (docs/performance.md). The cache is never saved, so its layout is free to choose.
The first pass over a prompt (module.apply with mutable=["cache"] and no cache yet) creates them; every
later pass writes the keys and values of the tokens it is fed at a given position and attends over the
whole cache, leaving not-yet-written positions to the caller's mask. Outside the modules a `KVCache`
carries that collection between decoding steps, with the per-row arrays a model needs at every step (an
encoder output, a prompt mask), and reorders its rows for beam search.
"""

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp


LENGTH_AXIS = -2  # of cached keys and values: (batch, [heads,] length, kv)


def write(cache: jax.Array, new: jax.Array, position: jax.Array) -> jax.Array:
  """`new` (batch, [heads,] n, kv) written into `cache` (batch, [heads,] length, kv) at `position`."""
  return jax.lax.dynamic_update_slice_in_dim(cache, new.astype(cache.dtype), position, axis=cache.ndim + LENGTH_AXIS)


def _padded(x: jax.Array, length: int | None) -> jax.Array:
  """`x` (batch, [heads,] n, kv) zero-padded to `length` positions on the length axis (None: as it is)."""
  if length is None:
    return x
  pad = [(0, 0)] * x.ndim
  pad[LENGTH_AXIS] = (0, length - x.shape[LENGTH_AXIS])
  return jnp.pad(x, pad)


def cached_key_values(module: nn.Module, k: jax.Array | None, v: jax.Array | None, kind: str,
                      position: jax.Array | None, length: int | None = None) -> tuple[jax.Array, jax.Array]:
  """Keys and values (batch, [heads,] length, kv) through `module`'s "cache" collection.

  kind 'self' (causal self-attention): the first call stores this pass's k and v zero-padded to `length`
  positions (default: their own length) and attends over them as they are; later calls write k and v
  (the new tokens) at `position` and attend over the whole cache.
  kind 'cross' (attention to a fixed memory such as an encoder output): the first call stores the memory's
  k and v; later calls take them from the cache (k and v may then be None: nothing to project).
  """
  initialized = module.has_variable("cache", "cached_key")
  cached_k = module.variable("cache", "cached_key", _padded, k, None if kind == "cross" else length)
  cached_v = module.variable("cache", "cached_value", _padded, v, None if kind == "cross" else length)
  if not initialized or kind == "cross":
    return cached_k.value if k is None else k, cached_v.value if v is None else v
  cached_k.value = write(cached_k.value, k, position)
  cached_v.value = write(cached_v.value, v, position)
  return cached_k.value, cached_v.value


@flax.struct.dataclass
class KVCache:
  """What KV-cached decoding carries between steps, for either model family."""

  layers: dict  # the modules' "cache" collection: every attention layer's cached_key / cached_value
  rows: dict[str, jax.Array]  # per-row arrays the model reads at every step, batch first
  length: int = flax.struct.field(pytree_node=False)  # cache positions per row
  batch_axis: int = flax.struct.field(pytree_node=False)  # of the `layers` arrays: 1 under scan (layers first)

  def take_rows(self, indices: jax.Array) -> "KVCache":
    """The rows in `indices` order (batch,): beam search keeps the cache of each surviving beam's parent."""
    return self.replace(layers=jax.tree.map(lambda x: jnp.take(x, indices, axis=self.batch_axis), self.layers),
                        rows=jax.tree.map(lambda x: x[indices], self.rows))
