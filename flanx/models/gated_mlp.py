"""The gated feed-forward core wo(act(x wi_0) * (x wi_1)), with a hand-written backward for CPU training.

Plain autodiff of the block (T5 v1.1's gated GELU, PaLM's SwiGLU) ran two products per direction for
wi_0 and wi_1, added their two input gradients, and wrote the activation's derivative transposed for the
weight-gradient products (docs/performance.md). Here wi_0 and wi_1 are stacked for the step into (embed, 2,
mlp) (a copy of the weights, small next to the activations; the parameters keep their layout, and an `mlp`
axis sharded across devices stays sharded the same way), so the forward, the input gradient and the weight
gradient are one (tokens, 2 * mlp) product each, and the activation's derivative is one elementwise pass
that writes the (tokens, 2, mlp) gradient those products read.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from flanx.models.dropout import apply_keep, keep_scale

Activation = Callable[[jax.Array], jax.Array]


def gated_mlp(x: jax.Array, wi_0: jax.Array, wi_1: jax.Array, wo: jax.Array, activation: Activation,
              dropout_keep: jax.Array | None = None, dropout_rate: float = 0.0) -> jax.Array:
  """wo(activation(x wi_0) * (x wi_1)), dropout on the hidden layer where dropout_keep is given.

  x (..., embed); wi_0, wi_1 (embed, mlp); wo (mlp, embed), all in one dtype. dropout_keep (..., mlp)
  booleans, the hidden units kept at `dropout_rate` (kept ones scaled by 1 / (1 - rate), as flax's
  Dropout does), or None. `activation` must be elementwise.
  """
  if wi_0.shape != wi_1.shape or wo.shape != wi_0.shape[::-1] or x.shape[-1] != wi_0.shape[0]:
    raise ValueError(f"gated_mlp: x {x.shape}, wi_0 {wi_0.shape}, wi_1 {wi_1.shape}, wo {wo.shape} must be "
                     "(..., embed), (embed, mlp), (embed, mlp), (mlp, embed)")
  if dropout_keep is not None and dropout_keep.shape != (*x.shape[:-1], wi_0.shape[1]):
    raise ValueError(f"gated_mlp: dropout_keep {dropout_keep.shape} must be {(*x.shape[:-1], wi_0.shape[1])}")
  return _gated_mlp(activation, keep_scale(dropout_rate), x, wi_0, wi_1, wo, dropout_keep)


def plain_gated_mlp(x: jax.Array, wi_0: jax.Array, wi_1: jax.Array, wo: jax.Array, activation: Activation,
                    dropout_keep: jax.Array | None = None, dropout_rate: float = 0.0) -> jax.Array:
  """`gated_mlp`'s value by the plain lines that autodiff differentiates: the reference that tests and
  `flanx bench blocks` compare it with."""
  hidden = activation(x @ wi_0) * (x @ wi_1)
  if dropout_keep is not None:
    hidden = apply_keep(hidden, dropout_keep, keep_scale(dropout_rate))
  return hidden @ wo


def _hidden(activation, scale, x, wi, keep):
  """(pre-activations (tokens, 2, mlp), hidden units after dropout (tokens, mlp)) for wi (embed, 2, mlp)."""
  pre = jnp.einsum("te,egm->tgm", x.reshape(-1, x.shape[-1]), wi)
  hidden = activation(pre[:, 0]) * pre[:, 1]
  if keep is not None:
    hidden = apply_keep(hidden, keep.reshape(hidden.shape), scale)
  return pre, hidden


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _gated_mlp(activation, scale, x, wi_0, wi_1, wo, keep):
  _, hidden = _hidden(activation, scale, x, jnp.stack([wi_0, wi_1], axis=1), keep)
  return (hidden @ wo).reshape(x.shape)


def _gated_mlp_fwd(activation, scale, x, wi_0, wi_1, wo, keep):
  wi = jnp.stack([wi_0, wi_1], axis=1)
  pre, hidden = _hidden(activation, scale, x, wi, keep)
  return (hidden @ wo).reshape(x.shape), (x, wi, wo, pre, hidden, keep)


def _gated_mlp_bwd(activation, scale, residuals, grad):
  x, wi, wo, pre, hidden, keep = residuals
  grad = grad.reshape(-1, grad.shape[-1])
  d_wo = hidden.T @ grad
  d_hidden = grad @ wo.T
  if keep is not None:
    d_hidden = apply_keep(d_hidden, keep.reshape(d_hidden.shape), scale)
  gate_pre, linear = pre[:, 0], pre[:, 1]
  gate, d_gate = jax.jvp(activation, (gate_pre,), (jnp.ones_like(gate_pre),))
  d_pre = jnp.stack([d_hidden * linear * d_gate, d_hidden * gate], axis=1)  # (tokens, 2, mlp)
  d_x = jnp.einsum("tgm,egm->te", d_pre, wi).reshape(x.shape)
  d_wi = jnp.einsum("te,tgm->egm", x.reshape(-1, x.shape[-1]), d_pre)
  return d_x, d_wi[:, 0], d_wi[:, 1], d_wo, None


_gated_mlp.defvjp(_gated_mlp_fwd, _gated_mlp_bwd)
