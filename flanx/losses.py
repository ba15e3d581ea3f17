"""Token cross-entropy with T5X's z-loss, and the loss-normalising factor that turns sums into a loss."""

import jax
import jax.numpy as jnp

from flanx.errors import FlanxError

# Loss-normalising-factor names, as in T5X. A number divides by that constant; None keeps the plain sum.
NORMALIZERS = ("NUM_REAL_TARGET_TOKENS", "NUM_TOTAL_TARGET_TOKENS", "AVERAGE_PER_SEQUENCE")


def cross_entropy_with_z_loss(logits: jax.Array, targets: jax.Array, z_loss: float) -> tuple[jax.Array, jax.Array]:
  """Per-token cross entropy plus z_loss * log(Z)^2, which keeps the softmax normaliser near 1.

  Returns (total per-token loss, the z-loss part alone), both shaped like `targets`.
  """
  logits = logits.astype(jnp.float32)
  log_z = jax.nn.logsumexp(logits, axis=-1)
  target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  z_term = z_loss * jnp.square(log_z)
  return log_z - target_logit + z_term, z_term


def check_normalizer(spec: float | str | None) -> None:
  if spec is None or isinstance(spec, (int, float)) or spec in NORMALIZERS:
    return
  raise FlanxError(f"LOSS_NORMALIZING_FACTOR={spec!r}: use a number, None or one of {', '.join(NORMALIZERS)}")


def sequence_weight_sums(loss_weights: jax.Array, segment_ids: jax.Array | None = None) -> jax.Array:
  """Each token's sequence total of loss weights (batch, length): the row's, or with packing (`segment_ids`,
  1, 2, ... per packed example and 0 on padding) its segment's; 0 on padding."""
  w = loss_weights.astype(jnp.float32)
  if segment_ids is None:
    return jnp.broadcast_to(jnp.sum(w, axis=-1, keepdims=True), w.shape)
  segments = segment_ids.astype(jnp.int32)
  totals = jax.vmap(lambda wr, sr: jax.ops.segment_sum(wr, sr, num_segments=w.shape[-1] + 1)[sr])(w, segments)
  return jnp.where(segments > 0, totals, 0.0)


def token_weights(spec: float | str | None, loss_weights: jax.Array, segment_ids: jax.Array | None = None
                  ) -> jax.Array:
  """Per-token weights; AVERAGE_PER_SEQUENCE divides each token's weight by its sequence's total (T5X: per packed
  segment; a sequence with no weight, padding included, gets none)."""
  w = loss_weights.astype(jnp.float32)
  if spec == "AVERAGE_PER_SEQUENCE":
    totals = sequence_weight_sums(w, segment_ids)
    w = jnp.where(totals > 0, w / jnp.where(totals > 0, totals, 1.0), 0.0)
  return w


def normalizing_factor(spec: float | str | None, loss_weights: jax.Array, segment_ids: jax.Array | None = None
                       ) -> jax.Array:
  """What the summed loss of a whole (global) batch is divided by. AVERAGE_PER_SEQUENCE: the number of sequences
  that carry loss weight (T5X: the sum of the per-sequence weights), so padding rows and packed examples count
  as T5X counts them."""
  check_normalizer(spec)
  if spec is None:
    return jnp.float32(1.0)
  if spec == "NUM_REAL_TARGET_TOKENS":
    return jnp.maximum(jnp.sum(loss_weights).astype(jnp.float32), 1.0)
  if spec == "NUM_TOTAL_TARGET_TOKENS":
    return jnp.float32(loss_weights.size)
  if spec == "AVERAGE_PER_SEQUENCE":
    return jnp.maximum(jnp.sum(token_weights(spec, loss_weights, segment_ids)), 1.0)
  return jnp.float32(spec)


def loss_sums(logits: jax.Array, targets: jax.Array, loss_weights: jax.Array, z_loss: float,
              normalizer: float | str | None, segment_ids: jax.Array | None = None) -> dict[str, jax.Array]:
  """A batch's weighted sums (not yet normalised, so microbatches simply add up): the training objective
  (weighted by `token_weights`; `segment_ids` of a packed batch), its cross-entropy and z-loss parts, and the
  correct and real target tokens."""
  per_token, z_term = cross_entropy_with_z_loss(logits, targets, z_loss)
  weights = loss_weights.astype(jnp.float32)
  correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32)
  return {
      "objective": jnp.sum(per_token * token_weights(normalizer, loss_weights, segment_ids)),
      "cross_entropy": jnp.sum((per_token - z_term) * weights),
      "z_loss": jnp.sum(z_term * weights),
      "correct_tokens": jnp.sum(correct * weights),
      "target_tokens": jnp.sum(weights),
  }


def sequence_log_likelihood(logits: jax.Array, targets: jax.Array, loss_weights: jax.Array) -> jax.Array:
  """Summed log-probability (batch,) of each row's weighted target tokens (rank classification, beam scores)."""
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  token_ll = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
  return jnp.sum(token_ll * loss_weights, axis=-1)
