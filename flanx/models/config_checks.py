"""Model config values checked where the config is made: a zero, negative or wrongly typed size, or a dropout
rate outside [0, 1), is one line naming the field instead of a ZeroDivisionError deep in a layer or a run that
trains on nothing (a rate of 1 or more zeroes every activation)."""

import dataclasses

import jax.numpy as jnp

from flanx.errors import FlanxError, positive_int

ACTIVATION_DTYPES = ("float32", "bfloat16", "float16")
# Int fields where 0 means "off", with the gin macro that sets them (named in the error line).
ZERO_MEANS_OFF = {"attention_block_size": "ATTENTION_BLOCK_SIZE"}


def check(config, where: str, even: tuple[str, ...] = ()) -> None:
  """Every int field of the dataclass `config` at least 1 (layer counts and ZERO_MEANS_OFF at least 0; those in
  `even` even),
  `dropout_rate` in [0, 1), `dtype` a float type, any other float field positive; `where` is its gin name
  (e.g. 'T5Config')."""
  for field in dataclasses.fields(config):
    name, value = f"{where}.{field.name}", getattr(config, field.name)
    if field.name in ZERO_MEANS_OFF:
      _zero_means_off(name, value, ZERO_MEANS_OFF[field.name])
    elif field.type in (int, "int"):
      positive_int(name, value, minimum=0 if field.name.endswith("_layers") else 1)  # an empty stack is defined
      if field.name in even and value % 2:
        raise FlanxError(f"{name}={value} must be even (rotary embeddings turn pairs of features)")
    elif field.name == "dropout_rate":
      _number(name, value)
      if not 0 <= value < 1:
        where_macro = " (DROPOUT_RATE in the run's gin files)"
        raise FlanxError(f"{name}={value}{where_macro} must be in [0, 1): the fraction of activations dropped")
    elif field.name == "dtype":
      _dtype(name, value)
    elif field.type in (float, "float"):
      _number(name, value)
      if value <= 0:
        raise FlanxError(f"{name}={value} must be positive")


def _zero_means_off(name: str, value, macro: str) -> None:
  where_macro = f" ({macro} in the run's gin files)"
  if isinstance(value, bool) or not isinstance(value, int):
    raise FlanxError(f"{name}={value!r}{where_macro} must be an integer (got {type(value).__name__})")
  if value < 0:
    raise FlanxError(f"{name}={value}{where_macro} must be at least 0 (0: off)")


def _number(name: str, value) -> None:
  if isinstance(value, bool) or not isinstance(value, int | float):
    raise FlanxError(f"{name}={value!r} must be a number (got {type(value).__name__})")


def _dtype(name: str, value) -> None:
  try:
    dtype = jnp.dtype(value)
  except TypeError:
    dtype = None
  if dtype is None or dtype.name not in ACTIVATION_DTYPES:
    raise FlanxError(f"{name}={value!r} is not an activation dtype: use one of {ACTIVATION_DTYPES}")
