"""T5 v1.1 encoder-decoder (Raffel et al. 2020, with the v1.1 changes) as flax linen modules.

v1.1 means: gated-GELU MLP, RMS layer norm without bias, relative position buckets shared across a
stack's layers, a token embedding shared by encoder and decoder, a separate (untied) output projection,
no biases anywhere, and dropout. Shapes for each size live in gin/models/t5_1_1/.
"""

import dataclasses
from typing import Any

import flax.linen as nn
import gin
import jax.numpy as jnp

from flanx.models import config_checks, layers, stacking
from flanx.models.layers import constrain

@gin.configurable
@dataclasses.dataclass(frozen=True)
class T5Config:
  vocab_size: int = 32128
  emb_dim: int = 512
  num_heads: int = 6
  head_dim: int = 64
  mlp_dim: int = 1024
  num_encoder_layers: int = 8
  num_decoder_layers: int = 8
  dropout_rate: float = 0.0
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  dtype: str = "float32"  # activations; parameters are always float32
  scan_layers: bool = False
  remat_policy: str = "none"
  # Training attention over key tiles of this size (flanx.models.blockwise_attention); 0: whole attention.
  attention_block_size: int = 0

  def __post_init__(self):
    layers.check_remat_policy(self.remat_policy, "T5Config.remat_policy")
    config_checks.check(self, "T5Config")


class EncoderLayer(nn.Module):
  config: T5Config
  deterministic: bool

  @nn.compact
  def __call__(self, x, mask, bias):
    c = self.config
    dropout = nn.Dropout(c.dropout_rate, broadcast_dims=(-2,))
    h = layers.RMSNorm(dtype=c.dtype, name="pre_attention_layer_norm")(x)
    h = layers.Attention(c.num_heads, c.head_dim, c.dropout_rate, c.dtype, c.attention_block_size,
                         name="attention")(h, h, mask, bias, self.deterministic)
    x = x + dropout(h, deterministic=self.deterministic)
    h = layers.RMSNorm(dtype=c.dtype, name="pre_mlp_layer_norm")(x)
    h = layers.GatedMlp(c.mlp_dim, c.dropout_rate, dtype=c.dtype, name="mlp")(h, self.deterministic)
    x = constrain(x + dropout(h, deterministic=self.deterministic), "batch", "length", "embed")
    return x, None  # (carry, output) so the same layer works under nn.scan


class DecoderLayer(nn.Module):
  config: T5Config
  deterministic: bool
  decode: bool = False  # KV-cached decoding: attention keeps keys/values in the "cache" collection

  @nn.compact
  def __call__(self, x, encoded, self_mask, cross_mask, bias, position=None):
    c = self.config
    self_cache, cross_cache = ("self", "cross") if self.decode else (None, None)
    dropout = nn.Dropout(c.dropout_rate, broadcast_dims=(-2,))
    h = layers.RMSNorm(dtype=c.dtype, name="pre_self_attention_layer_norm")(x)
    h = layers.Attention(c.num_heads, c.head_dim, c.dropout_rate, c.dtype, c.attention_block_size,
                         name="self_attention")(h, h, self_mask, bias, self.deterministic, self_cache, position)
    x = x + dropout(h, deterministic=self.deterministic)
    h = layers.RMSNorm(dtype=c.dtype, name="pre_cross_attention_layer_norm")(x)
    h = layers.Attention(c.num_heads, c.head_dim, c.dropout_rate, c.dtype, c.attention_block_size,
                         name="encoder_decoder_attention")(h, encoded, cross_mask, None, self.deterministic,
                                                           cross_cache)
    x = x + dropout(h, deterministic=self.deterministic)
    h = layers.RMSNorm(dtype=c.dtype, name="pre_mlp_layer_norm")(x)
    h = layers.GatedMlp(c.mlp_dim, c.dropout_rate, dtype=c.dtype, name="mlp")(h, self.deterministic)
    x = constrain(x + dropout(h, deterministic=self.deterministic), "batch", "length", "embed")
    return x, None


class Encoder(nn.Module):
  config: T5Config
  shared_embedding: nn.Module

  @nn.compact
  def __call__(self, tokens, segment_ids=None, enable_dropout: bool = False):
    c = self.config
    valid = tokens > 0
    mask = layers.attention_mask(valid, valid, segment_ids, segment_ids)
    bias = layers.RelativePositionBias(c.num_heads, bidirectional=True, num_buckets=c.relative_attention_num_buckets,
                                       max_distance=c.relative_attention_max_distance,
                                       name="relpos_bias")(tokens.shape[1], tokens.shape[1])
    x = nn.Dropout(c.dropout_rate)(self.shared_embedding(tokens), deterministic=not enable_dropout)
    x = stacking.stack(EncoderLayer, c, c.num_encoder_layers, not enable_dropout, 2)(x, mask, bias)
    x = layers.RMSNorm(dtype=c.dtype, name="encoder_norm")(x)
    return nn.Dropout(c.dropout_rate)(x, deterministic=not enable_dropout)


class Decoder(nn.Module):
  config: T5Config
  shared_embedding: nn.Module

  @nn.compact
  def __call__(self, encoded, encoder_valid, decoder_input_tokens, decoder_valid, encoder_segment_ids=None,
               decoder_segment_ids=None, enable_dropout: bool = False, decode_length: int | None = None,
               decode_position=None):
    """decode_length set: KV-cached decoding with a cache of that many positions. Then decode_position None is
    the cache-making pass (full-length inputs), and a scalar is one step (inputs (batch, 1) at that position)."""
    c = self.config
    self_mask = layers.attention_mask(decoder_valid, decoder_valid, decoder_segment_ids, decoder_segment_ids,
                                      causal=True)
    cross_mask = layers.attention_mask(decoder_valid, encoder_valid, decoder_segment_ids, encoder_segment_ids)
    length = decoder_input_tokens.shape[1]
    relpos = layers.RelativePositionBias(c.num_heads, bidirectional=False, num_buckets=c.relative_attention_num_buckets,
                                         max_distance=c.relative_attention_max_distance, name="relpos_bias")
    if decode_position is None:
      bias = relpos(length, length)
    else:  # one query at decode_position against every cached key; later keys are masked
      bias = relpos(1, decode_length, decode_position)
      self_mask = (jnp.arange(decode_length) <= decode_position)[None, None, None, :]
    x = nn.Dropout(c.dropout_rate)(self.shared_embedding(decoder_input_tokens), deterministic=not enable_dropout)
    if decode_length is None:
      x = stacking.stack(DecoderLayer, c, c.num_decoder_layers, not enable_dropout, 4)(
          x, encoded, self_mask, cross_mask, bias)
    else:
      position = jnp.zeros((), jnp.int32) if decode_position is None else decode_position
      x = stacking.stack(DecoderLayer, c, c.num_decoder_layers, not enable_dropout, 5, decode=True)(
          x, encoded, self_mask, cross_mask, bias, position)
    x = layers.RMSNorm(dtype=c.dtype, name="decoder_norm")(x)
    x = nn.Dropout(c.dropout_rate)(x, deterministic=not enable_dropout)
    # v1.1: an untied output projection, so the logits are not rescaled by 1/sqrt(d_model).
    w = layers.param(self, "logits_dense", nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal"),
                     (c.emb_dim, c.vocab_size), ("embed", "vocab")).astype(c.dtype)
    logits = jnp.einsum("bld,dv->blv", x, w, preferred_element_type=jnp.float32)
    return constrain(logits, "batch", "length", "vocab")


class Transformer(nn.Module):
  """The full encoder-decoder. Call with the features of seqio.EncDecFeatureConverter (packed or not)."""

  config: T5Config

  def setup(self):
    c = self.config
    self.token_embedder = layers.Embed(c.vocab_size, c.emb_dim, dtype=c.dtype)
    self.encoder = Encoder(c, self.token_embedder)
    self.decoder = Decoder(c, self.token_embedder)

  def encode(self, encoder_input_tokens, encoder_segment_ids=None, enable_dropout: bool = False):
    return self.encoder(encoder_input_tokens, encoder_segment_ids, enable_dropout)

  def decode(self, encoded, encoder_input_tokens, decoder_input_tokens, decoder_target_tokens=None,
             encoder_segment_ids=None, decoder_segment_ids=None, enable_dropout: bool = False):
    # Without targets (step-by-step decoding) every decoder position counts as real; causality masks the rest.
    if decoder_target_tokens is None:
      decoder_valid = jnp.ones_like(decoder_input_tokens, bool)
    else:
      decoder_valid = decoder_target_tokens > 0
    return self.decoder(encoded, encoder_input_tokens > 0, decoder_input_tokens, decoder_valid,
                        encoder_segment_ids, decoder_segment_ids, enable_dropout)

  def decode_cached(self, encoded, encoder_input_tokens, decoder_input_tokens, decode_length: int,
                    decode_position=None):
    """KV-cached decoder (apply with mutable=["cache"]): decode_position None makes the cache from full-length
    inputs (batch, decode_length); a scalar position feeds one token (batch, 1) and returns its logits."""
    decoder_valid = jnp.ones_like(decoder_input_tokens, bool)
    return self.decoder(encoded, encoder_input_tokens > 0, decoder_input_tokens, decoder_valid,
                        decode_length=decode_length, decode_position=decode_position)

  def __call__(self, encoder_input_tokens, decoder_input_tokens, decoder_target_tokens,
               encoder_segment_ids=None, decoder_segment_ids=None, enable_dropout: bool = False, **unused: Any):
    encoded = self.encode(encoder_input_tokens, encoder_segment_ids, enable_dropout)
    return self.decode(encoded, encoder_input_tokens, decoder_input_tokens, decoder_target_tokens,
                       encoder_segment_ids, decoder_segment_ids, enable_dropout)
