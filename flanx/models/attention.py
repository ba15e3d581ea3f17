"""The attention core softmax(q k^T + bias, masked) v, with a hand-written backward for training on CPU.

Plain autodiff of that core ran its backward at about 2.8x the forward on the T5 training step
(docs/performance.md): it kept a `where` over the (batch, heads, q, k) logits, broadcast the softmax
normaliser to that size, and summed `dw * w` over keys in a separate pass. `attend` saves the weights
and computes the softmax backward in one elementwise pass, ds = w * (dw - delta), where delta, the
row sum of dw * w, equals the (batch, q, heads) dot product of the output gradient with the output
(a pass over arrays 8x smaller at head_dim 64). Masked keys get weight 0 (exp of MASK_VALUE underflows),
so their ds is 0 with no `where`; a query whose every key is masked keeps the uniform weights of the
forward and has its ds set to 0 through its output gradient, as autodiff of the `where` gives. Every
product is a batched matrix product with the contraction over the minor axis of the left and the major
axis of the right: only (batch, heads, length, head_dim) arrays get transposed. Batch and heads stay two
batch dimensions of each product, never one merged (batch * heads) dimension: with batch sharded over
`data` and heads over `model`, XLA cannot keep a merged dimension sharded, and gathered every head's q,
k and v onto every model shard, which then computed all heads' scores (docs/tpu.md, "The time model").
"""

import functools

import jax
import jax.numpy as jnp

from flanx.models.dropout import apply_keep, keep_scale

# Large negative logit for masked attention positions (finite, so fully masked rows stay NaN-free).
MASK_VALUE = -1e10


def batch_sum(x: jax.Array) -> jax.Array:
  """x (batch, ...) summed over the batch into (1, ...), as a (1, batch) x (batch, rest) product.

  The gradient of a bias shared by every row of the batch. XLA:CPU's YNNPACK reduction over a leading
  axis ran 3-4x slower than this product (docs/performance.md).
  """
  batch = x.shape[0]
  ones = jnp.ones((1, batch), x.dtype)
  summed = jnp.dot(ones, x.reshape(batch, -1), preferred_element_type=jnp.promote_types(x.dtype, jnp.float32))
  return summed.reshape((1, *x.shape[1:]))


@jax.custom_vjp
def add_shared_bias(logits: jax.Array, bias: jax.Array) -> jax.Array:
  """logits (batch, ...) + bias (1, ...): one bias shared by every row of the batch.

  The value is `logits + bias`; only the bias gradient is computed differently: a (1, batch) x
  (batch, rest) matrix product instead of a sum over the leading batch axis. XLA:CPU's YNNPACK reduction
  over a leading axis ran 3-4x slower than the matching product; under the relative-position bias that all
  layers share it was the largest single op of the T5 training step (docs/performance.md).
  """
  return logits + bias


def _add_shared_bias_fwd(logits, bias):
  if bias.shape != (1, *logits.shape[1:]):
    raise ValueError(f"add_shared_bias: bias {bias.shape} must be (1, *logits.shape[1:]) for logits {logits.shape}")
  return logits + bias, None


def _add_shared_bias_bwd(_, grad):
  return grad, batch_sum(grad).astype(grad.dtype)


add_shared_bias.defvjp(_add_shared_bias_fwd, _add_shared_bias_bwd)


def _bmm(a: jax.Array, b: jax.Array, dtype) -> jax.Array:
  """(batch, heads, i, j) x (batch, heads, j, k) -> (batch, heads, i, k), batch and heads as two batch dims."""
  return jax.lax.dot_general(a, b, (((3,), (2,)), ((0, 1), (0, 1))), preferred_element_type=dtype)


def _heads_major(x: jax.Array) -> jax.Array:
  """(batch, length, heads, head_dim) -> (batch, heads, length, head_dim)."""
  return jnp.transpose(x, (0, 2, 1, 3))


def _heads_minor(x: jax.Array, minor_length: bool = False) -> jax.Array:
  """Back to (batch, length, heads, head_dim) from (batch, heads, length, head_dim), or from
  (batch, heads, head_dim, length) when minor_length."""
  return jnp.transpose(x, (0, 3, 1, 2) if minor_length else (0, 2, 1, 3))


def _t(x: jax.Array) -> jax.Array:
  """The last two axes swapped: (..., i, j) -> (..., j, i)."""
  return jnp.swapaxes(x, -1, -2)


def attend(q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array | None = None,
           mask: jax.Array | None = None, dropout_keep: jax.Array | None = None,
           dropout_rate: float = 0.0) -> jax.Array:
  """softmax(q k^T + bias, keys masked) v for each head, without 1/sqrt(head_dim) scaling.

  q (batch, q_length, heads, head_dim); k, v (batch, k_length, heads, head_dim); bias (1, heads, q_length,
  k_length), shared by the batch, or None; mask broadcastable to (batch, 1, q_length, k_length), True where
  attention is allowed, or None; dropout_keep (batch, heads, q_length, k_length) booleans, the weights kept
  by dropout at `dropout_rate` (kept weights scaled by 1 / (1 - rate), as flax's Dropout does), or None.
  Logits and the softmax are float32 (float64 for float64 inputs); the products with v and the result
  are in q's dtype.
  """
  batch, q_length, heads, _ = q.shape
  k_length = k.shape[1]
  if k.shape != v.shape or k.shape[0] != batch or k.shape[2:] != q.shape[2:]:
    raise ValueError(f"attend: q {q.shape}, k {k.shape}, v {v.shape} must be (batch, length, heads, head_dim) "
                     "with k and v alike")
  logits_shape = (batch, heads, q_length, k_length)
  if bias is not None and bias.shape != (1, *logits_shape[1:]):
    raise ValueError(f"attend: bias {bias.shape} must be (1, heads, q_length, k_length) = {(1, *logits_shape[1:])}")
  if mask is not None:
    mask = jnp.broadcast_to(mask, (batch, 1, q_length, k_length))
  if dropout_keep is not None and dropout_keep.shape != logits_shape:
    raise ValueError(f"attend: dropout_keep {dropout_keep.shape} must be {logits_shape}")
  return _attend(keep_scale(dropout_rate), q, k, v, bias, mask, dropout_keep)


def plain_attend(q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array | None = None,
                 mask: jax.Array | None = None, dropout_keep: jax.Array | None = None,
                 dropout_rate: float = 0.0, key_layout: str = "bthk") -> jax.Array:
  """`attend`'s value by the lines Attention ran before it, which autodiff differentiates (the bias
  gradient through `add_shared_bias`): the reference that tests and `flanx bench blocks` compare it with,
  and the core of the decoding paths, which need no backward.

  key_layout names k's and v's axes for einsum: "bthk" as `attend` takes them, "bhtk" as the KV cache
  stores them, "btk" for one key/value head shared by every query head (PaLM's multi-query attention).
  """
  logits = jnp.einsum(f"bqhk,{key_layout}->bhqt", q, k, preferred_element_type=logits_dtype(q.dtype))
  if bias is not None:
    logits = add_shared_bias(logits, bias.astype(logits.dtype))
  if mask is not None:
    logits = jnp.where(mask, logits, MASK_VALUE)
  weights = jax.nn.softmax(logits, axis=-1).astype(q.dtype)
  if dropout_keep is not None:
    weights = apply_keep(weights, dropout_keep, keep_scale(dropout_rate))
  return jnp.einsum(f"bhqt,{key_layout}->bqhk", weights, v)


def logits_dtype(dtype) -> jnp.dtype:
  """float32 for float32 and narrower activations, float64 for float64 ones."""
  return jnp.promote_types(dtype, jnp.float32)


def _forward(q, k, v, bias, mask, keep, scale):
  acc = logits_dtype(q.dtype)
  qh, kt, vh = _heads_major(q), _t(_heads_major(k)), _heads_major(v)
  logits = _bmm(qh, kt, acc)  # (batch, heads, q_length, k_length)
  if bias is not None:
    logits = logits + bias.astype(acc)
  if mask is not None:
    logits = jnp.where(mask, logits, MASK_VALUE)
  weights = jax.nn.softmax(logits, axis=-1).astype(q.dtype)
  used = weights if keep is None else apply_keep(weights, keep, scale)
  out_h = _bmm(used, vh, q.dtype)  # (batch, heads, q_length, head_dim)
  return out_h, (qh, kt, vh, weights, used)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _attend(scale, q, k, v, bias, mask, keep):
  return _heads_minor(_forward(q, k, v, bias, mask, keep, scale)[0])


def _attend_fwd(scale, q, k, v, bias, mask, keep):
  out_h, (qh, kt, vh, weights, used) = _forward(q, k, v, bias, mask, keep, scale)
  # A query with no allowed key: autodiff of the mask's `where` gives its logits no gradient.
  has_key = None if mask is None else jnp.any(mask, axis=-1)  # (batch, 1, q_length)
  # bias None travels as an empty pytree, so the backward knows whether to return a bias gradient.
  bias_marker = None if bias is None else jnp.zeros((), bias.dtype)
  residuals = (qh, kt, vh, weights, used, out_h, has_key, keep, bias_marker)
  return _heads_minor(out_h), residuals


def _attend_bwd(scale, residuals, grad):
  qh, kt, vh, weights, used, out_h, has_key, keep, bias_marker = residuals
  dtype, acc = qh.dtype, logits_dtype(qh.dtype)
  grad_h = _heads_major(grad.astype(dtype))  # (batch, heads, q_length, head_dim)
  dv_t = _bmm(_t(grad_h), used, dtype)  # (batch, heads, head_dim, k_length)
  if has_key is not None:
    grad_h = grad_h * has_key[..., None].astype(dtype)
  d_used = _bmm(grad_h, _t(vh), acc)  # (batch, heads, q_length, k_length)
  delta = jnp.sum(grad_h.astype(acc) * out_h.astype(acc), axis=-1, keepdims=True)
  d_weights = d_used if keep is None else apply_keep(d_used, keep, scale)
  d_logits = weights.astype(acc) * (d_weights - delta)
  d_logits_c = d_logits.astype(dtype)
  dq = _bmm(d_logits_c, _t(kt), dtype)  # (batch, heads, q_length, head_dim)
  dk_t = _bmm(_t(qh), d_logits_c, dtype)  # (batch, heads, head_dim, k_length)
  d_bias = None
  if bias_marker is not None:
    d_bias = batch_sum(d_logits).astype(bias_marker.dtype)
  return (_heads_minor(dq), _heads_minor(dk_t, minor_length=True), _heads_minor(dv_t, minor_length=True), d_bias,
          None, None)


_attend.defvjp(_attend_fwd, _attend_bwd)
