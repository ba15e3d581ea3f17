"""A PaLM-style decoder-only transformer (Chowdhery et al. 2022) as flax linen modules.

PaLM's choices: parallel attention and MLP sharing one pre-norm (x + attn(n(x)) + mlp(n(x))), SwiGLU MLP,
multi-query attention (one key/value head shared by all query heads), rotary position embeddings,
input and output embeddings shared, no biases anywhere. PaLM's norm is a LayerNorm without bias; flanx
uses its bias-free RMSNorm, as T5 does. Shapes for each size live in gin/models/palm/.

The layers are stacked by flanx.models.stacking (a Python loop, or one nn.scan with `scan_layers`) and
KV-cached decoding keeps keys and values in the "cache" collection (flanx.models.kv_cache), as T5 does:
the same code trains, prefills a prompt into the cache and decodes one token at a time.
"""

import dataclasses

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np

from flanx.models import config_checks, kv_cache, layers, stacking
from flanx.models.layers import constrain


@gin.configurable
@dataclasses.dataclass(frozen=True)
class PaLMConfig:
  vocab_size: int = 256000
  emb_dim: int = 4096
  num_heads: int = 16
  head_dim: int = 256
  mlp_dim: int = 16384
  num_layers: int = 32
  dropout_rate: float = 0.0
  rope_max_wavelength: float = 10_000.0
  dtype: str = "float32"  # activations; parameters are always float32
  scan_layers: bool = False
  remat_policy: str = "none"
  # Training attention over key tiles of this size (flanx.models.blockwise_attention); 0: whole attention.
  attention_block_size: int = 0

  def __post_init__(self):
    layers.check_remat_policy(self.remat_policy, "PaLMConfig.remat_policy")
    config_checks.check(self, "PaLMConfig", even=("head_dim",))


def rotary(x: jax.Array, positions: jax.Array, max_wavelength: float) -> jax.Array:
  """Rotates feature pairs (i, i + d/2) of x (batch, length, [heads,] d) by position-dependent angles."""
  half = x.shape[-1] // 2
  inv_freq = max_wavelength ** (-jnp.arange(half, dtype=jnp.float32) / half)
  angle = positions.astype(jnp.float32)[..., None] * inv_freq  # (batch, length, half)
  if x.ndim == 4:
    angle = angle[:, :, None, :]
  sin, cos = jnp.sin(angle), jnp.cos(angle)
  x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(jnp.float32)
  return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


def prefix_lm_mask(valid: jax.Array, causal_attention: jax.Array | None = None,
                   segment_ids: jax.Array | None = None) -> jax.Array:
  """(batch, 1, q, k): causal, except that positions marked in `causal_attention` (a prefix-LM's inputs)
  see each other both ways; never across packed segments or onto padding (T5X's make_decoder_mask)."""
  mask = layers.attention_mask(valid, valid, segment_ids, segment_ids, causal=True)
  if causal_attention is not None:
    prefix = causal_attention > 0
    both = layers.attention_mask(valid & prefix, valid & prefix, segment_ids, segment_ids)
    mask = mask | both
  return mask


class MultiQueryAttention(nn.Module):
  """Many query heads, one shared key/value head; RoPE on queries and keys; no biases."""

  num_heads: int
  head_dim: int
  rope_max_wavelength: float
  dropout_rate: float = 0.0
  dtype: layers.Dtype = jnp.float32
  block_size: int = 0  # > 0: training attends over key tiles of this size (layers.attend_with_dropout)

  @nn.compact
  def __call__(self, x, positions, mask, deterministic: bool, decode_length: int | None = None,
               slot: jax.Array | None = None) -> jax.Array:
    """decode_length set: keys and values go through the KV cache (see kv_cache.cached_key_values), a
    cache of that many positions made by the first call; later calls write theirs at `slot`."""
    d, h, k = x.shape[-1], self.num_heads, self.head_dim
    init_in = nn.initializers.variance_scaling(1.0, "fan_in", "normal", in_axis=0, out_axis=(1, 2))
    init_kv = nn.initializers.variance_scaling(1.0, "fan_in", "normal")
    init_out = nn.initializers.variance_scaling(1.0, "fan_in", "normal", in_axis=(0, 1), out_axis=2)
    wq = layers.param(self, "query", init_in, (d, h, k), ("embed", "heads", "kv")).astype(self.dtype)
    wk = layers.param(self, "key", init_kv, (d, k), ("embed", "kv")).astype(self.dtype)
    wv = layers.param(self, "value", init_kv, (d, k), ("embed", "kv")).astype(self.dtype)
    wo = layers.param(self, "out", init_out, (h, k, d), ("heads", "kv", "embed")).astype(self.dtype)

    q = rotary(jnp.einsum("bld,dhk->blhk", x, wq), positions, self.rope_max_wavelength) / np.sqrt(k).astype(self.dtype)
    q = constrain(q, "batch", "length", "heads", "kv")
    keys = rotary(jnp.einsum("bld,dk->blk", x, wk), positions, self.rope_max_wavelength)
    values = jnp.einsum("bld,dk->blk", x, wv)
    if decode_length is not None:
      keys, values = kv_cache.cached_key_values(self, keys, values, "self", slot, decode_length)
    keys, values = constrain(keys, "batch", "length", "kv"), constrain(values, "batch", "length", "kv")
    block_size = self.block_size if decode_length is None else 0  # a KV cache is not tiled
    out = layers.attend_with_dropout(self, q, keys, values, None, mask, deterministic, block_size, "btk")
    return constrain(jnp.einsum("bqhk,hkd->bqd", out, wo), "batch", "length", "embed")


class ParallelBlock(nn.Module):
  """x + attention(norm(x)) + mlp(norm(x)): both branches read the same normalised input."""

  config: PaLMConfig
  deterministic: bool
  decode_length: int | None = None  # KV-cached decoding with a cache of this many positions

  @nn.compact
  def __call__(self, x, positions, mask, slot=None):
    c = self.config
    dropout = nn.Dropout(c.dropout_rate, broadcast_dims=(-2,))
    h = layers.RMSNorm(dtype=c.dtype, name="pre_layer_norm")(x)
    attn = MultiQueryAttention(c.num_heads, c.head_dim, c.rope_max_wavelength, c.dropout_rate, c.dtype,
                               c.attention_block_size, name="attention")(
        h, positions, mask, self.deterministic, self.decode_length, slot)
    mlp = layers.GatedMlp(c.mlp_dim, c.dropout_rate, activation=nn.silu, dtype=c.dtype,
                          name="mlp")(h, self.deterministic)
    x = x + dropout(attn, deterministic=self.deterministic) + dropout(mlp, deterministic=self.deterministic)
    return constrain(x, "batch", "length", "embed"), None  # (carry, output) so the layer works under nn.scan


class DecoderOnly(nn.Module):
  """Tokens -> logits. With `decode_length`, keys and values go through a KV cache of that many positions
  (apply with mutable=["cache"]): the first call fills it from a prompt, later ones write at `slot`."""

  config: PaLMConfig

  @nn.compact
  def __call__(self, tokens, positions, mask, decode_length: int | None = None, slot=None,
               enable_dropout: bool = False) -> jax.Array:
    c = self.config
    embedder = layers.Embed(c.vocab_size, c.emb_dim, dtype=c.dtype, name="token_embedder")
    x = nn.Dropout(c.dropout_rate)(embedder(tokens), deterministic=not enable_dropout)
    if decode_length is None:
      x = stacking.stack(ParallelBlock, c, c.num_layers, not enable_dropout, 2)(x, positions, mask)
    else:
      slot = jnp.zeros((), jnp.int32) if slot is None else slot
      x = stacking.stack(ParallelBlock, c, c.num_layers, not enable_dropout, 3, decode_length=decode_length)(
          x, positions, mask, slot)
    x = layers.RMSNorm(dtype=c.dtype, name="decoder_norm")(x)
    x = nn.Dropout(c.dropout_rate)(x, deterministic=not enable_dropout)
    # Shared input/output embedding: the table is unit-variance, so the logits are scaled by 1/sqrt(d_model).
    logits = jnp.einsum("bld,vd->blv", x, embedder.embedding.astype(c.dtype), preferred_element_type=jnp.float32)
    return constrain(logits / np.sqrt(c.emb_dim), "batch", "length", "vocab")
