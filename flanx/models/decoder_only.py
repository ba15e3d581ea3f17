"""The trainer's view of a PaLM-style decoder-only model, trained as a prefix LM.

The model interface (flanx.models.interface) as T5's EncoderDecoderModel has it, so the trainer, the decoder
and the evaluator take either model kind; the loss, scoring, parameter count and cache reordering are the
shared ones of interface.LanguageModel.

Batches come from seqio.PrefixLMFeatureConverter: inputs and targets concatenated into one sequence,
`decoder_causal_attention` marking the input prefix (seen bidirectionally) and the loss on targets only.
"""

import dataclasses
from collections.abc import Mapping

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import seqio

from flanx.models import palm
from flanx.models.interface import Batch, LanguageModel, dropout_rngs
from flanx.models.kv_cache import KVCache

# Features of PrefixLMFeatureConverter with packing; without packing the last two are absent.
FEATURES = ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights", "decoder_causal_attention",
            "decoder_segment_ids", "decoder_positions")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DecoderOnlyModel(LanguageModel):
  config: palm.PaLMConfig

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
    return self.module.apply({"params": params}, tokens, positions, mask, enable_dropout=dropout_rng is not None,
                             rngs=dropout_rngs(dropout_rng))

  def flops_per_example(self, feature_lengths: Mapping[str, int]) -> float:
    """Training FLOPs (3x forward): projections (MQA: one key/value head), attention, MLP, logits."""
    c = self.config
    length = feature_lengths["inputs"] + feature_lengths["targets"]
    inner = c.num_heads * c.head_dim
    projections = 2 * c.emb_dim * inner + 2 * c.emb_dim * c.head_dim + 3 * c.emb_dim * c.mlp_dim
    per_layer = length * 2 * (projections + 2 * length * inner)
    return 3.0 * float(c.num_layers * per_layer + length * 2 * c.emb_dim * c.vocab_size)

  # --- KV-cached decoding (flanx.decoding's interface) ---------------------------------------------

  def init_cache(self, params, inputs: jax.Array, max_length: int) -> KVCache:
    """Runs the prompt [0, inputs...] with the prefix-LM mask (all real prompt tokens see each other).

    Cache slots [0, prompt slots) hold the prompt (right-padded); output token p - 1 goes to slot
    prompt slots - 1 + p at decoding step p; the last slot is scratch, written by step 0 and never read
    (see decode_step). Rows: prompt_valid (batch, prompt slots), lengths (batch,) (real input tokens) and
    first_logits (batch, vocab) (the prompt's prediction for output position 0).
    """
    batch, input_length = inputs.shape
    prompt = jnp.concatenate([jnp.zeros((batch, 1), jnp.int32), inputs.astype(jnp.int32)], axis=1)
    valid = jnp.concatenate([jnp.ones((batch, 1), bool), inputs > 0], axis=1)
    positions = jnp.broadcast_to(jnp.arange(input_length + 1), prompt.shape)
    cache_length = input_length + max_length + 1  # + 1: the scratch slot
    logits, variables = self.module.apply({"params": params}, prompt, positions, palm.prefix_lm_mask(valid, valid),
                                          cache_length, mutable=["cache"])
    lengths = jnp.sum(inputs > 0, axis=1).astype(jnp.int32)
    rows = {"prompt_valid": valid, "lengths": lengths, "first_logits": logits[jnp.arange(batch), lengths]}
    return KVCache(variables["cache"], rows, cache_length, batch_axis=1 if self.config.scan_layers else 0)

  def decode_step(self, params, cache: KVCache, tokens: jax.Array, position: jax.Array):
    """Step 0 returns the prompt's prediction; step p feeds output token p - 1 and predicts token p.

    Step 0 runs the model too, writing the scratch slot, and its logits are replaced by the prompt's: with
    a lax.cond around the step instead, XLA:CPU copied every layer's whole cache at every step rather than
    writing one slot in place.
    """
    prompt_valid, lengths = cache.rows["prompt_valid"], cache.rows["lengths"]
    prompt_slots = prompt_valid.shape[1]
    scratch = cache.length - 1
    slot = jnp.where(position == 0, scratch, prompt_slots - 1 + position)
    slots = jnp.arange(cache.length)
    prompt_keys = jnp.pad(prompt_valid, [(0, 0), (0, cache.length - prompt_slots)])
    keys_valid = prompt_keys | ((slots >= prompt_slots) & (slots <= slot) & (slots < scratch))[None]
    positions = (lengths + position)[:, None]  # the row's own position right after its real inputs
    logits, variables = self.module.apply(
        {"params": params, "cache": cache.layers}, tokens[:, None].astype(jnp.int32), positions,
        keys_valid[:, None, None, :], cache.length, slot, mutable=["cache"])
    logits = jnp.where(position == 0, cache.rows["first_logits"], logits[:, 0])
    return logits, cache.replace(layers=variables["cache"])
