"""Transformer building blocks. Every parameter and key activation is named by logical axis.

Logical axes: `batch`, `length`, `embed`, `mlp`, `heads`, `kv`, `vocab`, `relpos_buckets`, and `layers`
(the stacked-layer axis under scan). `flanx.partitioning` maps them onto the device mesh.
"""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from flanx.models import blockwise_attention
from flanx.models.attention import attend, plain_attend
from flanx.models.dropout import DropoutKeep
from flanx.models.gated_mlp import gated_mlp
from flanx.models.kv_cache import cached_key_values

Dtype = jnp.dtype | str
Initializer = Callable[..., jax.Array]

# Names of jax.checkpoint_policies usable as a config's remat_policy ('none' turns rematerialisation off).
REMAT_POLICIES = ("none", "full", "dots_saveable", "dots_with_no_batch_dims_saveable", "nothing_saveable")


def check_remat_policy(name: str, where: str) -> None:
  if name not in REMAT_POLICIES:
    from flanx.errors import FlanxError, closest
    raise FlanxError(f"{where}={name!r} is not one of {REMAT_POLICIES}{closest(name, REMAT_POLICIES)}")


def remat(layer_cls, policy: str, scanned: bool):
  """`layer_cls` rematerialised under a REMAT_POLICIES name ('none': as it is). dots_saveable also saves blockwise
  attention's output and log-sum-exp, which its backward would otherwise recompute with a pass over the tiles
  (the tiles' products themselves are never saved: blockwise_attention's forward loop has no residuals)."""
  if policy == "none":
    return layer_cls
  checkpoint_policy = None if policy == "full" else getattr(jax.checkpoint_policies, policy)
  if policy == "dots_saveable":
    checkpoint_policy = jax.checkpoint_policies.save_from_both_policies(
        checkpoint_policy, jax.checkpoint_policies.save_only_these_names(blockwise_attention.RESIDUALS_NAME))
  return nn.remat(layer_cls, policy=checkpoint_policy, prevent_cse=not scanned)


def constrain(x: jax.Array, *axes: str | None) -> jax.Array:
  return nn.with_logical_constraint(x, axes)


def param(module: nn.Module, name: str, init: Initializer, shape: tuple[int, ...], axes: tuple[str, ...],
          dtype: Dtype = jnp.float32) -> jax.Array:
  """A float32 parameter tagged with its logical axes."""
  return module.param(name, nn.with_logical_partitioning(init, axes), shape, dtype)


class RMSNorm(nn.Module):
  """T5's layer norm: scale by the root mean square, no mean subtraction and no bias."""

  epsilon: float = 1e-6
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    scale = param(self, "scale", nn.initializers.ones, (x.shape[-1],), ("embed",))
    x32 = x.astype(jnp.float32)
    x32 = x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), axis=-1, keepdims=True) + self.epsilon)
    return (x32 * scale).astype(self.dtype)


class Embed(nn.Module):
  """Token embedding table (vocab, embed)."""

  num_embeddings: int
  features: int
  dtype: Dtype = jnp.float32

  def setup(self):
    self.embedding = param(self, "embedding", nn.initializers.normal(stddev=1.0),
                           (self.num_embeddings, self.features), ("vocab", "embed"))

  def __call__(self, tokens: jax.Array) -> jax.Array:
    out = jnp.take(self.embedding.astype(self.dtype), tokens, axis=0)
    return constrain(out, "batch", "length", "embed")


class GatedMlp(nn.Module):
  """T5 v1.1's gated-GELU feed-forward block: wo(gelu(x wi_0) * (x wi_1))."""

  mlp_dim: int
  dropout_rate: float = 0.0
  activation: Callable[[jax.Array], jax.Array] = lambda x: nn.gelu(x, approximate=True)
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    d = x.shape[-1]
    init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")
    wi_0 = param(self, "wi_0", init, (d, self.mlp_dim), ("embed", "mlp")).astype(self.dtype)
    wi_1 = param(self, "wi_1", init, (d, self.mlp_dim), ("embed", "mlp")).astype(self.dtype)
    wo = param(self, "wo", init, (self.mlp_dim, d), ("mlp", "embed")).astype(self.dtype)
    keep = DropoutKeep(self.dropout_rate, name="Dropout_0")((*x.shape[:-1], self.mlp_dim), deterministic)
    out = gated_mlp(x, wi_0, wi_1, wo, self.activation, keep, self.dropout_rate)
    return constrain(out, "batch", "length", "embed")


class Attention(nn.Module):
  """Multi-head dot-product attention without biases and without 1/sqrt(d) logit scaling.

  As in T5, the 1/sqrt(head_dim) factor is folded into the query initialisation instead.
  `bias` is added to the logits (relative positions); `mask` is True where attention is allowed.
  `decode` turns on the KV cache (the "cache" collection, see `cached_key_values`): 'self' for causal
  self-attention fed one token at `position`, 'cross' for attention to a fixed memory (the encoder output).
  `block_size` > 0: the non-decoding path attends over key tiles of that size (see `attend_with_dropout`).
  """

  num_heads: int
  head_dim: int
  dropout_rate: float = 0.0
  dtype: Dtype = jnp.float32
  block_size: int = 0

  @nn.compact
  def __call__(self, inputs_q: jax.Array, inputs_kv: jax.Array, mask: jax.Array | None,
               bias: jax.Array | None, deterministic: bool, decode: str | None = None,
               position: jax.Array | None = None) -> jax.Array:
    d = inputs_q.shape[-1]
    shape_in, axes_in = (d, self.num_heads, self.head_dim), ("embed", "heads", "kv")
    init_in = nn.initializers.variance_scaling(1.0, "fan_in", "normal", in_axis=0, out_axis=(1, 2))

    def query_init(*a):
      return init_in(*a) / np.sqrt(self.head_dim)

    wq = param(self, "query", query_init, shape_in, axes_in).astype(self.dtype)
    wk = param(self, "key", init_in, shape_in, axes_in).astype(self.dtype)
    wv = param(self, "value", init_in, shape_in, axes_in).astype(self.dtype)
    init_out = nn.initializers.variance_scaling(1.0, "fan_in", "normal", in_axis=(0, 1), out_axis=2)
    wo = param(self, "out", init_out, (self.num_heads, self.head_dim, d), ("heads", "kv", "embed")).astype(self.dtype)

    q = constrain(jnp.einsum("bld,dhk->blhk", inputs_q, wq), "batch", "length", "heads", "kv")
    if decode is not None:
      # Keys and values in the cache's layout, (batch, heads, length, kv): see flanx.models.kv_cache.
      if decode == "cross" and self.has_variable("cache", "cached_key"):
        k = v = None  # the memory's keys and values were projected once, when the cache was made
      else:
        # Projected as in training, then the (small) activations swapped: projecting straight into
        # (b, h, l, k) made XLA:CPU transpose the weight matrices at every step instead.
        k = constrain(jnp.swapaxes(jnp.einsum("bld,dhk->blhk", inputs_kv, wk), 1, 2), "batch", "heads", "length", "kv")
        v = constrain(jnp.swapaxes(jnp.einsum("bld,dhk->blhk", inputs_kv, wv), 1, 2), "batch", "heads", "length", "kv")
      k, v = cached_key_values(self, k, v, decode, position)
      out = attend_with_dropout(self, q, k, v, bias, mask, deterministic, key_layout="bhtk")
      return constrain(jnp.einsum("bqhk,hkd->bqd", out, wo), "batch", "length", "embed")
    k = constrain(jnp.einsum("bld,dhk->blhk", inputs_kv, wk), "batch", "length", "heads", "kv")
    v = constrain(jnp.einsum("bld,dhk->blhk", inputs_kv, wv), "batch", "length", "heads", "kv")
    out = attend_with_dropout(self, q, k, v, bias, mask, deterministic, self.block_size)
    return constrain(jnp.einsum("bqhk,hkd->bqd", out, wo), "batch", "length", "embed")


def attend_with_dropout(module: nn.Module, q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array | None,
                        mask: jax.Array | None, deterministic: bool, block_size: int = 0,
                        key_layout: str = "bthk") -> jax.Array:
  """The attention core under `module`'s dropout on the weights (its `dropout_rate`). Over key tiles of
  `block_size` when blockwise_attention.uses_blocks says so (training), drawing one dropout key instead of a
  whole (batch, heads, q, k) keep mask; else `attend`, or `plain_attend` for the KV cache's layout ("bhtk") or
  one shared key/value head ("btk"). Decoding passes block_size 0: a cache is not tiled."""
  rate = 0.0 if deterministic else module.dropout_rate
  key_length = k.shape[key_layout.index("t")]
  if blockwise_attention.uses_blocks(block_size, key_length):
    key = module.make_rng("dropout") if rate > 0 else None
    return blockwise_attention.attend_blockwise(q, k, v, bias, mask, key, rate, block_size, key_layout)
  keep = DropoutKeep(module.dropout_rate, name="Dropout_0")(
      (q.shape[0], q.shape[2], q.shape[1], key_length), deterministic)
  if key_layout == "bthk":
    return attend(q, k, v, bias, mask, keep, module.dropout_rate)
  return plain_attend(q, k, v, bias, mask, keep, module.dropout_rate, key_layout=key_layout)


def relative_position_bucket(relative_position: jax.Array, bidirectional: bool, num_buckets: int,
                             max_distance: int) -> jax.Array:
  """T5's bucketing of (key position - query position): exact for small offsets, log-spaced beyond."""
  bucket = jnp.zeros_like(relative_position)
  if bidirectional:
    num_buckets //= 2
    bucket = bucket + (relative_position > 0).astype(jnp.int32) * num_buckets
    distance = jnp.abs(relative_position)
  else:
    distance = jnp.maximum(-relative_position, 0)
  max_exact = num_buckets // 2
  log_ratio = jnp.log(jnp.maximum(distance, 1).astype(jnp.float32) / max_exact) / np.log(max_distance / max_exact)
  large = max_exact + (log_ratio * (num_buckets - max_exact)).astype(jnp.int32)
  large = jnp.minimum(large, num_buckets - 1)
  return bucket + jnp.where(distance < max_exact, distance, large)


class RelativePositionBias(nn.Module):
  """Per-head learned bias for each relative-position bucket, shared by all layers of a stack."""

  num_heads: int
  bidirectional: bool
  num_buckets: int = 32
  max_distance: int = 128

  @nn.compact
  def __call__(self, query_length: int, key_length: int, query_offset: jax.Array | int = 0) -> jax.Array:
    table = param(self, "rel_embedding", nn.initializers.variance_scaling(1.0, "fan_avg", "uniform"),
                  (self.num_heads, self.num_buckets), ("heads", "relpos_buckets"))
    # query_offset: the first query's position, for a decoding step that queries one position of many.
    relative = jnp.arange(key_length)[None, :] - (jnp.arange(query_length) + query_offset)[:, None]
    buckets = relative_position_bucket(relative, self.bidirectional, self.num_buckets, self.max_distance)
    return jnp.take(table, buckets, axis=1)[None]  # (1, heads, q, k)


def attention_mask(query_valid: jax.Array, key_valid: jax.Array, query_segments: jax.Array | None = None,
                   key_segments: jax.Array | None = None, causal: bool = False) -> jax.Array:
  """(batch, 1, q, k) booleans: both positions real, in the same packed segment, and causal if asked."""
  mask = query_valid[:, :, None] & key_valid[:, None, :]
  if query_segments is not None:
    mask &= query_segments[:, :, None] == key_segments[:, None, :]
  if causal:
    q, k = query_valid.shape[1], key_valid.shape[1]
    mask &= jnp.tril(jnp.ones((q, k), dtype=bool))[None]
  return mask[:, None]
