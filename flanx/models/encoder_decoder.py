"""T5 behind the model interface (flanx.models.interface): initialisation, logits, KV-cached decoding, FLOPs.

The loss, scoring, parameter count and cache reordering come from interface.LanguageModel.
"""

import dataclasses
from collections.abc import Mapping

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import seqio

from flanx.models import t5
from flanx.models.interface import Batch, LanguageModel, dropout_rngs
from flanx.models.kv_cache import KVCache

# Features that EncDecFeatureConverter produces with packing; without packing the last four are absent.
FEATURES = ("encoder_input_tokens", "decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights",
            "encoder_segment_ids", "decoder_segment_ids", "encoder_positions", "decoder_positions")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EncoderDecoderModel(LanguageModel):
  config: t5.T5Config

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
    return self.module.apply({"params": params}, **{k: batch.get(k) for k in FEATURES if k in batch},
                             enable_dropout=dropout_rng is not None, rngs=dropout_rngs(dropout_rng))

  # --- KV-cached decoding (the interface flanx.decoding documents) ----------------------------------------

  def init_cache(self, params, inputs: jax.Array, max_length: int) -> KVCache:
    """Encodes `inputs` (batch, input length) and makes a decoder cache of `max_length` positions."""
    module = self.module
    encoded = module.apply({"params": params}, inputs, method=module.encode)
    dummy = jnp.zeros((inputs.shape[0], max_length), jnp.int32)
    _, variables = module.apply({"params": params}, encoded, inputs, dummy, max_length,
                                method=module.decode_cached, mutable=["cache"])
    return KVCache(variables["cache"], {"encoded": encoded, "encoder_input_tokens": inputs}, max_length,
                   batch_axis=1 if self.config.scan_layers else 0)

  def decode_step(self, params, cache: KVCache, tokens: jax.Array, position: jax.Array):
    """Feeds `tokens` (batch,) at decoder position `position`; returns (next-token logits (batch, vocab), cache)."""
    module = self.module
    logits, variables = module.apply(
        {"params": params, "cache": cache.layers}, cache.rows["encoded"], cache.rows["encoder_input_tokens"],
        tokens[:, None], cache.length, position, method=module.decode_cached, mutable=["cache"])
    return logits[:, 0], cache.replace(layers=variables["cache"])

  def flops_per_example(self, feature_lengths: Mapping[str, int]) -> float:
    """Training FLOPs (forward + backward = 3x forward) for one example at the given lengths.

    Counts the matrix multiplies: 2 FLOPs per multiply-add in every projection, attention scores and
    attention-weighted values, and the output projection. Embedding lookups and norms are ignored. The
    cross-attention's key and value projections run over the encoder's tokens, not the decoder's (the compiled
    step's dot FLOPs agree: tests/pod/test_plan_cost.py).
    """
    c = self.config
    inner = c.num_heads * c.head_dim
    attention_proj = 4 * c.emb_dim * inner
    mlp = 3 * c.emb_dim * c.mlp_dim
    l_in, l_out = feature_lengths["inputs"], feature_lengths["targets"]
    encoder = c.num_encoder_layers * l_in * 2 * (attention_proj + mlp + 2 * l_in * inner)
    cross_kv = l_in * 2 * 2 * c.emb_dim * inner
    decoder = c.num_decoder_layers * (l_out * 2 * (attention_proj + 2 * c.emb_dim * inner + mlp + 2 * l_out * inner
                                                   + 2 * l_in * inner) + cross_kv)
    logits = l_out * 2 * c.emb_dim * c.vocab_size
    return 3.0 * float(encoder + decoder + logits)
