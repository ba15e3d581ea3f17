"""Dropout as a mask drawn outside a core and applied inside it, for cores with a hand-written backward.

`DropoutKeep` draws the mask flax's `nn.Dropout` would draw; `apply_keep` is what that Dropout does with it,
so the forward and the backward of `attention.attend` and `gated_mlp.gated_mlp` (and their plain references)
apply one rule.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def keep_scale(rate: float) -> float:
  """What a kept unit is multiplied by at dropout `rate`: 1 / (1 - rate), and 0 when everything is dropped."""
  return 0.0 if rate >= 1.0 else 1.0 / (1.0 - rate)


def apply_keep(x: jax.Array, keep: jax.Array, scale: float) -> jax.Array:
  """x where `keep`, times `scale` (see keep_scale); 0 elsewhere. In x's dtype."""
  return jnp.where(keep, x * scale, 0).astype(x.dtype)


class DropoutKeep(nn.Module):
  """The booleans that `nn.Dropout(rate)` keeps, for cores that apply dropout inside a custom backward.

  Named as the `nn.Dropout` it replaces ("Dropout_0"), it draws the same mask from the same rngs:
  `jax.random.bernoulli(make_rng("dropout"), 1 - rate, shape)`. None when nothing is dropped.
  """

  rate: float

  @nn.compact
  def __call__(self, shape: tuple[int, ...], deterministic: bool) -> jax.Array | None:
    if deterministic or self.rate == 0.0:
      return None
    return jax.random.bernoulli(self.make_rng("dropout"), 1.0 - self.rate, shape)
