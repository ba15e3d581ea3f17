"""The one model interface: what the trainer, decoder, evaluator, planner and benchmarks call on a model.

`Model` names it as a Protocol; `LanguageModel` holds the parts every family computes the same way (loss sums
and scores from the family's logits, the parameter count, row reordering of a decoding cache), so a family
only writes what differs: its flax module, feature converter, batch shapes, init, logits, FLOPs and the
KV-cached decoding steps. EncoderDecoderModel (T5) and DecoderOnlyModel (PaLM-style) both derive from it.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import flax.linen as nn
import jax
import numpy as np
import seqio

from flanx import losses
from flanx.models.kv_cache import KVCache

Batch = Mapping[str, jax.Array]


@runtime_checkable
class Model(Protocol):
  """A model family as flanx drives it. Token ids are int32; 0 is padding."""

  config: Any  # the family's config dataclass (vocab_size, emb_dim, dropout_rate, scan_layers, ...)
  vocabulary: seqio.Vocabulary
  loss_normalizing_factor: float | str | None
  decoder_start_id: int

  @property
  def module(self) -> nn.Module:
    """The flax module holding the parameters."""

  def feature_converter(self, pack: bool) -> seqio.FeatureConverter:
    """The seqio converter that turns task examples into this model's features."""

  def batch_shapes(self, batch_size: int, feature_lengths: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    """Model-feature shapes for task feature lengths {'inputs': ..., 'targets': ...}."""

  def init(self, rng: jax.Array, feature_lengths: Mapping[str, int]) -> Any:
    """Boxed (logically partitioned) parameters, initialised for a batch of one."""

  def logits(self, params, batch: Batch, dropout_rng: jax.Array | None = None) -> jax.Array:
    """Float logits (batch, length, vocab) aligned with batch['decoder_target_tokens']."""

  def loss_sums(self, params, batch: Batch, dropout_rng: jax.Array | None) -> dict[str, jax.Array]:
    """Un-normalised sums over the batch (objective, cross_entropy, z_loss, correct_tokens, target_tokens)."""

  def score(self, params, batch: Batch) -> jax.Array:
    """Summed log-likelihood (batch,) of each row's weighted target tokens."""

  def flops_per_example(self, feature_lengths: Mapping[str, int]) -> float:
    """Training FLOPs (forward + backward) of one example at the given lengths."""

  def num_params(self, params) -> int:
    """Number of parameter values."""

  def init_cache(self, params, inputs: jax.Array, max_length: int) -> KVCache:
    """Consumes the prompts (batch, input length) and returns a cache with room for `max_length` outputs."""

  def decode_step(self, params, cache: KVCache, tokens: jax.Array, position: jax.Array) -> tuple[jax.Array, KVCache]:
    """Feeds `tokens` (batch,) at output position `position`; returns (logits (batch, vocab), cache)."""

  def reorder_cache(self, cache: KVCache, indices: jax.Array) -> KVCache:
    """The cache's rows taken in `indices` order (beam search)."""


@dataclasses.dataclass(frozen=True)
class LanguageModel:
  """The implementation both families share; subclasses provide module, logits and the decoding steps."""

  config: Any
  vocabulary: seqio.Vocabulary
  z_loss: float = 1e-4
  loss_normalizing_factor: float | str | None = "NUM_REAL_TARGET_TOKENS"

  decoder_start_id = 0  # T5 and T5X's decoder-only models both feed the pad id at output position 0

  def __post_init__(self):
    losses.check_normalizer(self.loss_normalizing_factor)

  def logits(self, params, batch: Batch, dropout_rng: jax.Array | None = None) -> jax.Array:
    raise NotImplementedError(f"{type(self).__name__} must define logits")

  def loss_sums(self, params, batch: Batch, dropout_rng: jax.Array | None) -> dict[str, jax.Array]:
    """Weighted sums over the batch (not yet normalised), so microbatches can simply be added up."""
    return losses.loss_sums(self.logits(params, batch, dropout_rng), batch["decoder_target_tokens"],
                            batch["decoder_loss_weights"], self.z_loss, self.loss_normalizing_factor,
                            batch.get("decoder_segment_ids"))

  def score(self, params, batch: Batch) -> jax.Array:
    """Summed log-likelihood of each sequence's weighted target tokens (for rank classification)."""
    return losses.sequence_log_likelihood(self.logits(params, batch), batch["decoder_target_tokens"],
                                          batch["decoder_loss_weights"])

  def num_params(self, params) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))

  def reorder_cache(self, cache: KVCache, indices: jax.Array) -> KVCache:
    """Rows of the cache taken in `indices` order (beam search)."""
    return cache.take_rows(indices)


def dropout_rngs(dropout_rng: jax.Array | None) -> dict[str, jax.Array] | None:
  """The `rngs` argument of module.apply: dropout on exactly when a key is given."""
  return {"dropout": dropout_rng} if dropout_rng is not None else None

