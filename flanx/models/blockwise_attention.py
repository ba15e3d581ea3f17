"""`attention.attend`'s value over key tiles with an online softmax (FlashAttention's algorithm, in plain JAX).

`attend` keeps the (batch, heads, q, k) weights for its backward: with float32 logits, weights and a dropout
mask per layer they dominate a long-sequence training step's activation memory (T5 at 2048 keys needs full remat
or many microbatches, docs/tpu.md). `attend_blockwise` walks the keys in tiles of `block_size`, keeping for each
query row a running maximum, a running softmax sum and an output accumulator; it keeps only the output and each
row's log-sum-exp for the backward, which recomputes each tile's logits from q and k. Its activations grow as
the length, not its square, and it is the reference a fused TPU kernel must match.

Dropout: each tile's keep mask is drawn from `fold_in(dropout_key, tile index)`, in the forward and again in the
backward, so no mask is stored. `blockwise_keep` builds the whole mask from the same key, so `attend` given it
gives the same numbers. Batch and heads stay two batch dimensions of every product (see attention.py for why).
"""

import dataclasses
import functools
from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jax.ad_checkpoint import checkpoint_name

from flanx.errors import FlanxError
from flanx.models.attention import MASK_VALUE, batch_sum, logits_dtype
from flanx.models.dropout import apply_keep, keep_scale

# The name of the forward's residuals that the backward cannot recompute cheaply: the output and the rows'
# log-sum-exp. Remat under dots_saveable saves them (layers.remat), so it needs no second pass over the tiles.
RESIDUALS_NAME = "blockwise_attention_residuals"

# k's and v's layouts, as plain_attend names them: per-head keys, or one key/value head for every query head
# (PaLM's multi-query attention). The second is the spec of the (batch, heads)-major internal layout.
KEY_SPECS = {"bthk": "bhtd", "btk": "btd"}


def uses_blocks(block_size: int, key_length: int) -> bool:
  """Whether attention over `key_length` keys runs in tiles: a block size set, smaller than the keys (one tile
  is whole attention) and dividing them. Training lengths are checked to divide up front (check_lengths); a
  forward-only pass at another length (evaluation, scoring) takes whole attention, which has the same value."""
  return 0 < block_size < key_length and key_length % block_size == 0


def check_block_size(block_size: int, key_length: int) -> None:
  if block_size < 1 or key_length % block_size:
    raise FlanxError(f"ATTENTION_BLOCK_SIZE={block_size} does not divide the attention's key length {key_length}: "
                     f"use a divisor of {key_length}, or 0 for whole attention")


def check_lengths(block_size: int, batch_shapes: Mapping[str, tuple[int, ...]],
                  feature_lengths: Mapping[str, int]) -> None:
  """One line when ATTENTION_BLOCK_SIZE would tile a training attention's keys unevenly. `batch_shapes` are the
  model's (batch, length) features at TASK_FEATURE_LENGTHS: every attention's keys are one of those lengths."""
  for length in sorted({shape[1] for shape in batch_shapes.values()}):
    if 0 < block_size < length and length % block_size:
      raise FlanxError(f"ATTENTION_BLOCK_SIZE={block_size} does not divide the attention key length {length} of "
                       f"TASK_FEATURE_LENGTHS={dict(feature_lengths)}: use a divisor of {length}, or 0 for whole "
                       "attention")


def blockwise_keep(dropout_key: jax.Array, dropout_rate: float, shape: tuple[int, int, int, int],
                   block_size: int) -> jax.Array:
  """The (batch, heads, q_length, k_length) keep mask attend_blockwise draws, tile by tile, from `dropout_key`."""
  batch, heads, q_length, k_length = shape
  tile = (batch, heads, q_length, block_size)
  return jnp.concatenate([_tile_keep(dropout_key, i, dropout_rate, tile) for i in range(k_length // block_size)],
                         axis=-1)


def attend_blockwise(q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array | None = None,
                     mask: jax.Array | None = None, dropout_key: jax.Array | None = None, dropout_rate: float = 0.0,
                     block_size: int = 512, key_layout: str = "bthk") -> jax.Array:
  """softmax(q k^T + bias, keys masked) v, as `attention.attend` computes it, over key tiles of `block_size`.

  q (batch, q_length, heads, head_dim); k, v (batch, k_length, heads, head_dim), or (batch, k_length, head_dim)
  with key_layout "btk"; bias (1, heads, q_length, k_length) or None; mask broadcastable to (batch, 1, q_length,
  k_length), True where attention is allowed, or None; dropout_key: the key of the weights' dropout at
  `dropout_rate` (kept weights scaled by 1 / (1 - rate)), or None for none. block_size must divide k_length.
  """
  batch, q_length, heads, head_dim = q.shape
  if key_layout not in KEY_SPECS:
    raise ValueError(f"attend_blockwise: key_layout {key_layout!r} is not one of {tuple(KEY_SPECS)}")
  k_length = k.shape[1]
  expected = (batch, k_length, heads, head_dim) if key_layout == "bthk" else (batch, k_length, head_dim)
  if k.shape != expected or v.shape != expected:
    raise ValueError(f"attend_blockwise: q {q.shape}, k {k.shape}, v {v.shape} do not fit key_layout {key_layout!r}")
  check_block_size(block_size, k_length)
  if bias is not None and bias.shape != (1, heads, q_length, k_length):
    raise ValueError(f"attend_blockwise: bias {bias.shape} must be (1, heads, q_length, k_length) = "
                     f"{(1, heads, q_length, k_length)}")
  if mask is not None:
    mask = jnp.broadcast_to(mask, (batch, 1, q_length, k_length))
  if dropout_rate > 0 and dropout_key is None:
    raise ValueError("attend_blockwise: dropout_rate > 0 needs a dropout_key")
  if dropout_rate == 0:
    dropout_key = None
  return _blockwise(_Static(block_size, float(dropout_rate), KEY_SPECS[key_layout]), q, k, v, bias, mask,
                    dropout_key)


@dataclasses.dataclass(frozen=True)
class _Static:
  """The custom_vjp's static (hashable) arguments: tile size, dropout rate and the keys' internal layout."""

  block: int
  rate: float
  kspec: str


def _tile_keep(key: jax.Array, index, rate: float, shape: tuple[int, ...]) -> jax.Array:
  return jax.random.bernoulli(jax.random.fold_in(key, index), 1.0 - rate, shape)


def _heads_major(x: jax.Array, kspec: str = "bhtd") -> jax.Array:
  """(batch, length, heads, head_dim) -> (batch, heads, length, head_dim); (batch, length, head_dim) as it is."""
  return jnp.transpose(x, (0, 2, 1, 3)) if kspec == "bhtd" else x


def _tile(x: jax.Array, s: _Static, index, axis: int) -> jax.Array:
  return jax.lax.dynamic_slice_in_dim(x, index * s.block, s.block, axis=axis)


def _tile_logits(s: _Static, qh, kh, bias, mask, index):
  """Tile `index`'s logits (batch, heads, q_length, block), biased and masked as attend's, and its keys."""
  k_tile = _tile(kh, s, index, s.kspec.index("t"))
  logits = jnp.einsum(f"bhqd,{s.kspec}->bhqt", qh, k_tile, preferred_element_type=logits_dtype(qh.dtype))
  if bias is not None:
    logits = logits + _tile(bias, s, index, 3).astype(logits.dtype)
  if mask is not None:
    logits = jnp.where(_tile(mask, s, index, 3), logits, MASK_VALUE)
  return logits, k_tile


def _kept(s: _Static, x, key, index):
  """x (a tile's weights or their gradient) under the tile's dropout: the same mask in forward and backward."""
  if key is None:
    return x
  return apply_keep(x, _tile_keep(key, index, s.rate, x.shape), keep_scale(s.rate))


def _forward(s: _Static, qh, kh, vh, bias, mask, key):
  """The output (batch, heads, q_length, head_dim) and each row's log-sum-exp (batch, heads, q_length)."""
  acc = logits_dtype(qh.dtype)
  rows = qh.shape[:3]

  def step(carry):
    index, row_max, row_sum, out = carry
    logits, _ = _tile_logits(s, qh, kh, bias, mask, index)
    new_max = jnp.maximum(row_max, jnp.max(logits, axis=-1))
    rescale = jnp.exp(row_max - new_max)
    p = jnp.exp(logits - new_max[..., None])
    row_sum = row_sum * rescale + jnp.sum(p, axis=-1)  # the normaliser counts dropped weights too
    used = _kept(s, p.astype(qh.dtype), key, index)
    out = out * rescale[..., None] + jnp.einsum(f"bhqt,{s.kspec}->bhqd", used, _tile(vh, s, index, s.kspec.index("t")),
                                                preferred_element_type=acc)
    return index + 1, new_max, row_sum, out

  # A while loop, not a scan: a scan's products are residuals that dots_saveable saves for the backward (a
  # (batch, heads, q_length, block) f32 logits tile per tile: all the scores), where a while loop has none.
  tiles = kh.shape[s.kspec.index("t")] // s.block
  init = (jnp.int32(0), jnp.full(rows, -jnp.inf, acc), jnp.zeros(rows, acc), jnp.zeros(qh.shape, acc))
  _, row_max, row_sum, out = jax.lax.while_loop(lambda carry: carry[0] < tiles, step, init)
  return (out / row_sum[..., None]).astype(qh.dtype), row_max + jnp.log(row_sum)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _blockwise(s, q, k, v, bias, mask, key):
  return jnp.transpose(_forward(s, _heads_major(q), _heads_major(k, s.kspec), _heads_major(v, s.kspec), bias, mask,
                                key)[0], (0, 2, 1, 3))


def _blockwise_fwd(s, q, k, v, bias, mask, key):
  qh, kh, vh = _heads_major(q), _heads_major(k, s.kspec), _heads_major(v, s.kspec)
  out, lse = (checkpoint_name(x, RESIDUALS_NAME) for x in _forward(s, qh, kh, vh, bias, mask, key))
  # A query with no allowed key: autodiff of attend's mask `where` gives its logits no gradient.
  has_key = None if mask is None else jnp.any(mask, axis=-1)  # (batch, 1, q_length)
  return jnp.transpose(out, (0, 2, 1, 3)), (qh, kh, vh, bias, mask, key, out, lse, has_key)


def _blockwise_bwd(s, residuals, grad):
  qh, kh, vh, bias, mask, key, out, lse, has_key = residuals
  dtype, acc = qh.dtype, logits_dtype(qh.dtype)
  key_axis = s.kspec.index("t")
  grad_h = _heads_major(grad.astype(dtype))  # (batch, heads, q_length, head_dim)
  # The values' gradient takes every row's weights (a fully masked row's are uniform); the logits' skip such rows.
  grad_z = grad_h if has_key is None else grad_h * has_key[..., None].astype(dtype)
  delta = jnp.sum(grad_z.astype(acc) * out.astype(acc), axis=-1)  # (batch, heads, q_length)

  def step(dq, index):
    logits, k_tile = _tile_logits(s, qh, kh, bias, mask, index)
    p = jnp.exp(logits - lse[..., None])  # the forward's normalised weights for this tile
    if has_key is not None:
      # A row with no allowed key has uniform weights; exp(logits - lse) loses them, as lse = MASK_VALUE +
      # log(k_length) rounds to MASK_VALUE in float32.
      p = jnp.where(has_key[..., None], p, 1.0 / kh.shape[key_axis])
    used = _kept(s, p.astype(dtype), key, index)
    dv_tile = jnp.einsum(f"bhqt,bhqd->{s.kspec}", used, grad_h, preferred_element_type=acc)
    d_used = jnp.einsum(f"bhqd,{s.kspec}->bhqt", grad_z, _tile(vh, s, index, key_axis), preferred_element_type=acc)
    d_logits = p * (_kept(s, d_used, key, index) - delta[..., None])
    d_logits_c = d_logits.astype(dtype)
    dq = dq + jnp.einsum(f"bhqt,{s.kspec}->bhqd", d_logits_c, k_tile, preferred_element_type=acc)
    dk_tile = jnp.einsum(f"bhqt,bhqd->{s.kspec}", d_logits_c, qh, preferred_element_type=acc)
    d_bias = None if bias is None else batch_sum(d_logits).astype(bias.dtype)
    return dq, (dk_tile.astype(dtype), dv_tile.astype(dtype), d_bias)

  tiles = jnp.arange(kh.shape[key_axis] // s.block)
  dq, (dk, dv, d_bias) = jax.lax.scan(step, jnp.zeros(qh.shape, acc), tiles)
  dq = jnp.transpose(dq.astype(dtype), (0, 2, 1, 3))
  dk, dv = _untile_keys(dk, s.kspec), _untile_keys(dv, s.kspec)
  if d_bias is not None:  # (tiles, 1, heads, q_length, block) -> (1, heads, q_length, k_length)
    d_bias = jnp.moveaxis(d_bias, 0, 3).reshape(bias.shape)
  return dq, dk, dv, d_bias, None, None


def _untile_keys(x: jax.Array, kspec: str) -> jax.Array:
  """Per-tile key gradients (tiles, batch, [heads,] block, head_dim) -> k's layout (batch, k_length, [heads,] d)."""
  if kspec == "bhtd":
    tiles, batch, heads, block, head_dim = x.shape
    return jnp.transpose(x, (1, 0, 3, 2, 4)).reshape(batch, tiles * block, heads, head_dim)
  tiles, batch, block, head_dim = x.shape
  return jnp.swapaxes(x, 0, 1).reshape(batch, tiles * block, head_dim)


_blockwise.defvjp(_blockwise_fwd, _blockwise_bwd)
