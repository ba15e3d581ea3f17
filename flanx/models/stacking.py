"""One way to stack a model's layers, shared by T5 and the PaLM-style model.

A stack runs `num_layers` copies of a layer module either as a Python loop (parameters `layers_0`,
`layers_1`, ...) or as one nn.scan (`scan_layers`: one `layers` tree whose arrays have a leading axis named
`layers` for partitioning), optionally rematerialised under the config's `remat_policy`. Attention caches
follow the parameters: one per layer in the loop, stacked on a leading axis under scan.
"""

from collections.abc import Callable

import flax.linen as nn
import jax

from flanx.models import layers


def stack(layer_cls: type[nn.Module], config, num_layers: int, deterministic: bool, num_broadcast: int,
          **layer_kwargs) -> Callable[..., jax.Array]:
  """A function (x, *args) -> x applying the layers in turn; call it inside the parent's compact method.

  `layer_cls(config, deterministic, **layer_kwargs)` is called as layer(x, *args) -> (x, None) (the carry
  and output of a scan step); the `num_broadcast` args are the same for every layer. `config` needs
  `scan_layers` and `remat_policy`.
  """
  cls = layers.remat(layer_cls, config.remat_policy, config.scan_layers)
  if config.scan_layers:
    scanned = nn.scan(cls, variable_axes={"params": 0, "cache": 0}, split_rngs={"params": True, "dropout": True},
                      in_axes=(nn.broadcast,) * num_broadcast, length=num_layers,
                      metadata_params={nn.PARTITION_NAME: "layers"})

    def apply(x, *args):
      return scanned(config, deterministic, **layer_kwargs, name="layers")(x, *args)[0]
  else:
    def apply(x, *args):
      for i in range(num_layers):
        x, _ = cls(config, deterministic, **layer_kwargs, name=f"layers_{i}")(x, *args)
      return x
  return apply
