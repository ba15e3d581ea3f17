"""The trainer's view of a PaLM-style decoder-only model, trained as a prefix LM.

Same interface as EncoderDecoderModel (init, loss_sums, score, batch shapes, FLOPs) and the KV-cache
interface flanx.decoding documents (decoder_start_id, init_cache, decode_step, reorder_cache), so the
trainer, the decoder and the evaluator take either model kind.

Batches come from seqio.PrefixLMFeatureConverter: inputs and targets concatenated into one sequence,
`decoder_causal_attention` marking the input prefix (seen bidirectionally) and the loss on targets only.
"""

import dataclasses
from collections.abc import Mapping

import flax
import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import seqio

from flanx import losses
from flanx.models import palm
from flanx.models.encoder_decoder import EncoderDecoderModel

Batch = Mapping[str, jax.Array]

# Features of PrefixLMFeatureConverter with packing; without packing the last two are absent.
FEATURES = ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights", "decoder_causal_attention",
            "decoder_segment_ids", "decoder_positions")


@flax.struct.dataclass
class PrefixCache:
  """Decoding state. Slots [0, prompt_slots) hold the prompt [0, inputs...] (right-padded); output token
  p - 1 goes to slot prompt_slots - 1 + p at decoding step p."""
  kvs: palm.KVCache  # keys, values: (layers, batch, cache length, head_dim)
  prompt_valid: jax.Array  # (batch, prompt_slots) bool
  lengths: jax.Array  # (batch,) number of real input tokens
  first_logits: jax.Array  # (batch, vocab): the prediction for output position 0, made by the prompt's last token


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DecoderOnlyModel:
  config: palm.PaLMConfig
  vocabulary: seqio.Vocabulary
  z_loss: float = 1e-4
  loss_normalizing_factor: float | str | None = "NUM_REAL_TARGET_TOKENS"

  decoder_start_id = 0  # position 0 of the shifted sequence is the pad id, as in T5X's decoder-only models

  def __post_init__(self):
    losses.check_normalizer(self.loss_normalizing_factor)

  @property
  def module(self) -> nn.Module:
    return palm.DecoderOnly(self.config)

  def feature_converter(self, pack: bool) -> seqio.FeatureConverter:
    return seqio.PrefixLMFeatureConverter(pack=pack)

  def batch_shapes(self, batch_size: int, feature_lengths: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    length = feature_lengths["inputs"] + feature_lengths["targets"]
    return {name: (batch_size, length) for name in FEATURES}

  def init(self, rng: jax.Array, feature_lengths: Mapping[str, int]):
    shapes = self.batch_shapes(1, feature_lengths)
    tokens = jnp.ones(shapes["decoder_input_tokens"], jnp.int32)
    positions = jnp.zeros_like(tokens)
    return self.module.init(rng, tokens, positions, palm.prefix_lm_mask(tokens > 0))["params"]

  def logits(self, params, batch: Batch, dropout_rng: jax.Array | None = None) -> jax.Array:
    tokens = batch["decoder_input_tokens"]
    positions = batch.get("decoder_positions")
    if positions is None:
      positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
    mask = palm.prefix_lm_mask(batch["decoder_target_tokens"] > 0, batch.get("decoder_causal_attention"),
                               batch.get("decoder_segment_ids"))
    rngs = {"dropout": dropout_rng} if dropout_rng is not None else None
    logits, _ = self.module.apply({"params": params}, tokens, positions, mask,
                                  enable_dropout=dropout_rng is not None, rngs=rngs)
    return logits

  # The loss, scoring and parameter count only need `logits` and the loss settings: shared, not copied.
  loss_sums = EncoderDecoderModel.loss_sums
  score = EncoderDecoderModel.score
  num_params = EncoderDecoderModel.num_params

  def flops_per_example(self, feature_lengths: Mapping[str, int]) -> float:
    """Training FLOPs (3x forward): projections (MQA: one key/value head), attention, MLP, logits."""
    c = self.config
    length = feature_lengths["inputs"] + feature_lengths["targets"]
    inner = c.num_heads * c.head_dim
    projections = 2 * c.emb_dim * inner + 2 * c.emb_dim * c.head_dim + 3 * c.emb_dim * c.mlp_dim
    per_layer = length * 2 * (projections + 2 * length * inner)
    return 3.0 * float(c.num_layers * per_layer + length * 2 * c.emb_dim * c.vocab_size)

  # --- KV-cached decoding (flanx.decoding's interface) ---------------------------------------------

  def init_cache(self, params, inputs: jax.Array, max_length: int) -> PrefixCache:
    """Runs the prompt [0, inputs...] with the prefix-LM mask (all real prompt tokens see each other)."""
    batch, input_length = inputs.shape
    prompt = jnp.concatenate([jnp.zeros((batch, 1), jnp.int32), inputs.astype(jnp.int32)], axis=1)
    valid = jnp.concatenate([jnp.ones((batch, 1), bool), inputs > 0], axis=1)
    positions = jnp.broadcast_to(jnp.arange(input_length + 1), prompt.shape)
    logits, kvs = self.module.apply({"params": params}, prompt, positions, palm.prefix_lm_mask(valid, valid))
    lengths = jnp.sum(inputs > 0, axis=1).astype(jnp.int32)
    pad = [(0, 0), (0, 0), (0, max_length - 1), (0, 0)]
    kvs = tuple(jnp.pad(t, pad) for t in kvs)
    return PrefixCache(kvs=kvs, prompt_valid=valid, lengths=lengths,
                       first_logits=logits[jnp.arange(batch), lengths])

  def decode_step(self, params, cache: PrefixCache, tokens: jax.Array, position: jax.Array):
    """Step 0 returns the prompt's prediction; step p feeds output token p - 1 and predicts token p."""
    prompt_slots = cache.prompt_valid.shape[1]
    cache_length = cache.kvs[0].shape[2]

    def step(cache: PrefixCache):
      slot = prompt_slots - 1 + position
      slots = jnp.arange(cache_length)
      prompt_keys = jnp.pad(cache.prompt_valid, [(0, 0), (0, cache_length - prompt_slots)])
      keys_valid = prompt_keys | ((slots >= prompt_slots) & (slots <= slot))[None]
      positions = (cache.lengths + position)[:, None]  # the row's own position right after its real inputs
      logits, kvs = self.module.apply({"params": params}, tokens[:, None].astype(jnp.int32), positions,
                                      keys_valid[:, None, None, :], caches=cache.kvs, slot=slot)
      return logits[:, 0], cache.replace(kvs=kvs)

    return jax.lax.cond(position == 0, lambda c: (c.first_logits, c), step, cache)

  def reorder_cache(self, cache: PrefixCache, indices: jax.Array) -> PrefixCache:
    kvs = tuple(t[:, indices] for t in cache.kvs)  # batch is axis 1, after layers
    return jax.tree.map(lambda x: x[indices], cache.replace(kvs=())).replace(kvs=kvs)
