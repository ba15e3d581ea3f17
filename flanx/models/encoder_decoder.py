"""The trainer's view of an encoder-decoder model: initialisation, loss, scoring, KV-cached decoding, FLOPs.

The trainer talks only to this interface, so other model families (a decoder-only PaLM-style model)
plug in by providing the same methods.
"""

import dataclasses
from collections.abc import Mapping

import flax
import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np
import seqio

from flanx import losses
from flanx.models import t5

Batch = Mapping[str, jax.Array]


@flax.struct.dataclass
class DecoderCache:
  """What KV-cached decoding carries between steps (see flanx.decoding for the interface)."""
  variables: dict  # the decoder's flax "cache" collection: per-layer keys and values
  encoded: jax.Array
  encoder_input_tokens: jax.Array
  length: int = flax.struct.field(pytree_node=False)

# Features that EncDecFeatureConverter produces with packing; without packing the last four are absent.
FEATURES = ("encoder_input_tokens", "decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights",
            "encoder_segment_ids", "decoder_segment_ids", "encoder_positions", "decoder_positions")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EncoderDecoderModel:
  config: t5.T5Config
  vocabulary: seqio.Vocabulary
  z_loss: float = 1e-4
  loss_normalizing_factor: float | str | None = "NUM_REAL_TARGET_TOKENS"

  def __post_init__(self):
    losses.check_normalizer(self.loss_normalizing_factor)

  @property
  def module(self) -> nn.Module:
    return t5.Transformer(self.config)

  def feature_converter(self, pack: bool) -> seqio.FeatureConverter:
    return seqio.EncDecFeatureConverter(pack=pack)

  def batch_shapes(self, batch_size: int, feature_lengths: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    """Model-feature shapes for task feature lengths {'inputs': ..., 'targets': ...}."""
    enc, dec = (batch_size, feature_lengths["inputs"]), (batch_size, feature_lengths["targets"])
    return {name: enc if name.startswith("encoder") else dec for name in FEATURES}

  def init(self, rng: jax.Array, feature_lengths: Mapping[str, int]):
    """Boxed (logically partitioned) parameters for a batch of one."""
    shapes = self.batch_shapes(1, feature_lengths)
    dummy = {k: jnp.ones(v, jnp.int32) for k, v in shapes.items()}
    return self.module.init(rng, **dummy)["params"]

  def logits(self, params, batch: Batch, dropout_rng: jax.Array | None = None) -> jax.Array:
    rngs = {"dropout": dropout_rng} if dropout_rng is not None else None
    return self.module.apply({"params": params}, **{k: batch.get(k) for k in FEATURES if k in batch},
                             enable_dropout=dropout_rng is not None, rngs=rngs)

  def loss_sums(self, params, batch: Batch, dropout_rng: jax.Array | None) -> dict[str, jax.Array]:
    """Weighted sums over the batch (not yet normalised), so microbatches can simply be added up."""
    logits = self.logits(params, batch, dropout_rng)
    per_token, z_term = losses.cross_entropy_with_z_loss(logits, batch["decoder_target_tokens"], self.z_loss)
    weights = batch["decoder_loss_weights"].astype(jnp.float32)
    scaled = losses.token_weights(self.loss_normalizing_factor, batch["decoder_loss_weights"])
    correct = (jnp.argmax(logits, -1) == batch["decoder_target_tokens"]).astype(jnp.float32)
    return {
        "objective": jnp.sum(per_token * scaled),
        "cross_entropy": jnp.sum((per_token - z_term) * weights),
        "z_loss": jnp.sum(z_term * weights),
        "correct_tokens": jnp.sum(correct * weights),
        "target_tokens": jnp.sum(weights),
    }

  def score(self, params, batch: Batch) -> jax.Array:
    """Summed log-likelihood of each sequence's weighted target tokens (for rank classification)."""
    logits = self.logits(params, batch).astype(jnp.float32)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    token_ll = jnp.take_along_axis(log_probs, batch["decoder_target_tokens"][..., None], axis=-1)[..., 0]
    return jnp.sum(token_ll * batch["decoder_loss_weights"], axis=-1)

  # --- KV-cached decoding (the interface flanx.decoding documents) ----------------------------------------

  decoder_start_id = 0  # T5 feeds the pad id as the first decoder input

  def init_cache(self, params, inputs: jax.Array, max_length: int) -> DecoderCache:
    """Encodes `inputs` (batch, input length) and makes an empty decoder cache of `max_length` positions."""
    module = self.module
    encoded = module.apply({"params": params}, inputs, method=module.encode)
    dummy = jnp.zeros((inputs.shape[0], max_length), jnp.int32)
    _, variables = module.apply({"params": params}, encoded, inputs, dummy, max_length,
                                method=module.decode_cached, mutable=["cache"])
    return DecoderCache(variables["cache"], encoded, inputs, max_length)

  def decode_step(self, params, cache: DecoderCache, tokens: jax.Array, position: jax.Array):
    """Feeds `tokens` (batch,) at decoder position `position`; returns (next-token logits (batch, vocab), cache)."""
    module = self.module
    logits, variables = module.apply(
        {"params": params, "cache": cache.variables}, cache.encoded, cache.encoder_input_tokens, tokens[:, None],
        cache.length, position, method=module.decode_cached, mutable=["cache"])
    return logits[:, 0], cache.replace(variables=variables["cache"])

  def reorder_cache(self, cache: DecoderCache, indices: jax.Array) -> DecoderCache:
    """Rows of the cache taken in `indices` order (beam search)."""
    axis = 1 if self.config.scan_layers else 0  # scanned layers stack the cache on a leading layers axis
    return cache.replace(variables=jax.tree.map(lambda x: jnp.take(x, indices, axis=axis), cache.variables),
                         encoded=cache.encoded[indices], encoder_input_tokens=cache.encoder_input_tokens[indices])

  def flops_per_example(self, feature_lengths: Mapping[str, int]) -> float:
    """Training FLOPs (forward + backward = 3x forward) for one example at the given lengths.

    Counts the matrix multiplies: 2 FLOPs per multiply-add in every projection, attention scores and
    attention-weighted values, and the output projection. Embedding lookups and norms are ignored.
    """
    c = self.config
    inner = c.num_heads * c.head_dim
    attention_proj = 4 * c.emb_dim * inner
    mlp = 3 * c.emb_dim * c.mlp_dim
    l_in, l_out = feature_lengths["inputs"], feature_lengths["targets"]
    encoder = c.num_encoder_layers * l_in * 2 * (attention_proj + mlp + 2 * l_in * inner)
    decoder = c.num_decoder_layers * l_out * 2 * (2 * attention_proj + mlp + 2 * l_out * inner + 2 * l_in * inner)
    logits = l_out * 2 * c.emb_dim * c.vocab_size
    return 3.0 * float(encoder + decoder + logits)

  def num_params(self, params) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))
