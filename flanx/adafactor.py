"""Adafactor with T5X's semantics, driven by the parameters' logical axis names.

Each logical axis is a row, a column, a batch axis or never factored (`LOGICAL_FACTOR_RULES`, T5X's standard
rules). The second moment of a parameter is kept as the mean of the squared gradient over its column axes
(`v_row`) and over its row axes (`v_col`); several column axes merge, so an attention kernel
(layers, embed, heads, kv) keeps (layers, embed) and (layers, heads, kv). Batch axes (`layers` of a scanned stack)
are never averaged over: the parameter scale, the update clipping and the factoring are computed within each
layer's array, so a scanned stack takes the same steps as a loop of layers.

As in T5X, a parameter of rank <= 2 without a batch axis falls back to the shape heuristic (the two largest
dimensions, factored only when the smaller is at least `min_dim_size_to_factor`); a named rule is used as given,
whatever the sizes. A rule with rows but no columns (or the reverse) leaves the parameter unfactored.
"""

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec

from flanx.errors import FlanxError


class FactorDim(enum.Enum):
  NONE = "none"  # kept whole: never factored
  BATCH = "batch"  # stacked copies: never averaged over
  ROW = "row"
  COLUMN = "column"


# T5X's standard_logical_factor_rules, for the logical axis names flanx's models use (and T5X's others).
LOGICAL_FACTOR_RULES: Mapping[str, FactorDim] = {
    "vocab": FactorDim.COLUMN,
    "embed": FactorDim.ROW,
    "mlp": FactorDim.COLUMN,
    "heads": FactorDim.COLUMN,
    "kv": FactorDim.COLUMN,
    "joined_kv": FactorDim.COLUMN,
    "relpos_buckets": FactorDim.NONE,
    "layers": FactorDim.BATCH,
    "stack": FactorDim.BATCH,
    "q_wi_fused": FactorDim.COLUMN,
    "o_wo_fused": FactorDim.COLUMN,
    "multiquery_heads": FactorDim.COLUMN,
    "kv_fused": FactorDim.COLUMN,
    "layer_norm_scale": FactorDim.NONE,
    "mlp_activations": FactorDim.COLUMN,
}

EPSILON_GRAD = 1e-30  # added to the squared gradient (T5X's epsilon1)
EPSILON_SCALE = 1e-3  # the smallest parameter scale (T5X's epsilon2)


@dataclasses.dataclass(frozen=True)
class Factoring:
  """How one parameter's second moment is kept and over which dimensions its RMS statistics run.

  averaging: every dimension but the batch ones (parameter scale and update clipping average over these).
  rows, columns: the factored dimensions; both empty when the parameter keeps its full second moment.
  """
  averaging: tuple[int, ...]
  rows: tuple[int, ...] = ()
  columns: tuple[int, ...] = ()

  @property
  def factored(self) -> bool:
    return bool(self.rows and self.columns)

  def row_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(np.delete(shape, self.columns).tolist())

  def column_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(np.delete(shape, self.rows).tolist())


def _heuristic(shape: tuple[int, ...], min_dim_size_to_factor: int) -> Factoring:
  """T5X's (and the Adafactor paper's) rule for a vector or a matrix: the larger dimension is the column."""
  everything = tuple(range(len(shape)))
  if len(shape) < 2:
    return Factoring(everything)
  order = np.argsort(shape, kind="stable")
  if shape[order[-2]] < min_dim_size_to_factor:
    return Factoring(everything)
  return Factoring(everything, (int(order[-2]),), (int(order[-1]),))


def factoring(shape: tuple[int, ...], axes: tuple[str | None, ...] | None, min_dim_size_to_factor: int = 128,
              rules: Mapping[str, FactorDim] = LOGICAL_FACTOR_RULES, where: str = "a parameter") -> Factoring:
  """The Factoring of a parameter of `shape` whose dimensions carry the logical names `axes` (None: unnamed)."""
  shape = tuple(shape)
  if not axes:
    if len(shape) > 2:
      raise FlanxError(f"{where} {shape}: a parameter of rank > 2 needs logical axis names to factor its "
                       f"Adafactor state (flanx.models.layers.param)")
    return _heuristic(shape, min_dim_size_to_factor)
  if len(axes) != len(shape):
    raise FlanxError(f"{where} {shape}: {len(axes)} logical axis names {tuple(axes)} for {len(shape)} dimensions")
  unknown = [a for a in axes if a not in rules]
  if unknown:
    raise FlanxError(f"{where}: logical axis {unknown[0]!r} has no Adafactor factor rule "
                     f"(flanx.adafactor.LOGICAL_FACTOR_RULES knows {', '.join(sorted(rules))})")
  dims = [rules[a] for a in axes]
  if FactorDim.ROW in dims and FactorDim.COLUMN in dims and FactorDim.NONE in dims:
    raise FlanxError(f"{where}: axes {tuple(axes)} mix rows, columns and unfactored axes; an Adafactor rule needs "
                     f"every non-batch axis to be a row or a column")
  if FactorDim.ROW not in dims or FactorDim.COLUMN not in dims:
    dims = [FactorDim.NONE if d in (FactorDim.ROW, FactorDim.COLUMN) else d for d in dims]
  batch = [i for i, d in enumerate(dims) if d is FactorDim.BATCH]
  if len(shape) <= 2 and not batch:
    return _heuristic(shape, min_dim_size_to_factor)
  return Factoring(averaging=tuple(i for i in range(len(shape)) if i not in batch),
                   rows=tuple(i for i, d in enumerate(dims) if d is FactorDim.ROW),
                   columns=tuple(i for i, d in enumerate(dims) if d is FactorDim.COLUMN))


def factorings(param_shapes, logical_specs, min_dim_size_to_factor: int = 128,
               rules: Mapping[str, FactorDim] = LOGICAL_FACTOR_RULES):
  """A tree like the parameters holding each one's Factoring, from its shape and logical PartitionSpec."""
  def one(path, shape, spec):
    axes = tuple(spec) if spec is not None else None
    name = jax.tree_util.keystr(path, simple=True, separator="/")
    return factoring(tuple(shape.shape), axes, min_dim_size_to_factor, rules, where=f"parameter {name}")
  return jax.tree_util.tree_map_with_path(one, param_shapes, logical_specs)


class AdafactorState(NamedTuple):
  """count: steps taken. v_row, v_col, v: trees like the parameters; a factored parameter holds v_row and v_col
  and a (1,) placeholder as v, an unfactored one the reverse (T5X's layout)."""
  count: jax.Array
  v_row: Any
  v_col: Any
  v: Any


_PLACEHOLDER = (1,)


def state_logical_specs(plan, logical_specs) -> AdafactorState:
  """Logical PartitionSpecs of the state: each moment keeps the logical names of the dimensions it keeps, so it
  is sharded as its parameter is (placeholders and the count are replicated)."""
  def moment(which):
    def one(f: Factoring, spec):
      axes = tuple(spec) if spec else ()
      if which == "v":
        return PartitionSpec() if f.factored else PartitionSpec(*axes)
      if not f.factored or not axes:
        return PartitionSpec()
      dropped = f.columns if which == "v_row" else f.rows
      return PartitionSpec(*(a for i, a in enumerate(axes) if i not in dropped))
    return jax.tree.map(one, plan, logical_specs)

  return AdafactorState(count=PartitionSpec(), v_row=moment("v_row"), v_col=moment("v_col"), v=moment("v"))


def adafactor(learning_rate: optax.ScalarOrSchedule, plan, decay_rate: float = 0.8, step_offset: int = 0,
              clipping_threshold: float | None = 1.0, multiply_by_parameter_scale: bool = True,
              weight_decay_rate: float | None = None) -> optax.GradientTransformation:
  """T5X's Adafactor (without momentum) as an optax transformation; `plan` is `factorings(...)` of the parameters.

  The update of a parameter p with gradient g at step t (counted from 0):
    decay = 1 - (t - step_offset + 1) ** -decay_rate
    v_row, v_col (or v) <- decay * old + (1 - decay) * mean(g^2 + 1e-30) over the columns (rows)
    y = g / sqrt(v_row v_col / mean(v_row over the rows))         (or g / sqrt(v))
    y = y / max(1, rms(y) / clipping_threshold)                    rms within each batch slice
    update = -lr(t) * max(rms(p), 1e-3) * y - weight_decay_rate * p
  """
  schedule: Callable = learning_rate if callable(learning_rate) else (lambda _: learning_rate)

  def init(params):
    def v_row(f, p):
      return jnp.zeros(f.row_shape(p.shape) if f.factored else _PLACEHOLDER, jnp.float32)

    def v_col(f, p):
      return jnp.zeros(f.column_shape(p.shape) if f.factored else _PLACEHOLDER, jnp.float32)

    def v(f, p):
      return jnp.zeros(_PLACEHOLDER if f.factored else p.shape, jnp.float32)

    return AdafactorState(count=jnp.zeros((), jnp.int32), v_row=jax.tree.map(v_row, plan, params),
                          v_col=jax.tree.map(v_col, plan, params), v=jax.tree.map(v, plan, params))

  def update(grads, state: AdafactorState, params=None):
    if params is None and (multiply_by_parameter_scale or weight_decay_rate):
      raise FlanxError("Adafactor's parameter scale and weight decay need the parameters: call update(grads, "
                       "state, params)")
    t = jnp.asarray(state.count - step_offset, jnp.float32) + 1.0
    decay = 1.0 - t ** (-decay_rate)
    mixing = 1.0 - decay
    lr = schedule(state.count)

    def one(f: Factoring, g, p, v_row, v_col, v):
      g = g.astype(jnp.float32)
      g2 = g * g + EPSILON_GRAD
      if f.factored:
        v_row = decay * v_row + mixing * jnp.mean(g2, axis=f.columns)
        v_col = decay * v_col + mixing * jnp.mean(g2, axis=f.rows)
        # The row dimensions' places in v_row, once the columns are gone.
        rows_in_v_row = tuple(r - sum(c < r for c in f.columns) for r in f.rows)
        row_factor = jax.lax.rsqrt(v_row / jnp.mean(v_row, axis=rows_in_v_row, keepdims=True))
        y = g * jnp.expand_dims(row_factor, f.columns) * jnp.expand_dims(jax.lax.rsqrt(v_col), f.rows)
      else:
        v = decay * v + mixing * g2
        y = g * jax.lax.rsqrt(v)
      if clipping_threshold is not None:
        rms = jnp.sqrt(jnp.mean(y * y, axis=f.averaging, keepdims=True))
        y = y / jnp.maximum(1.0, rms / clipping_threshold)
      scale = lr
      if multiply_by_parameter_scale:
        p32 = p.astype(jnp.float32)
        scale = lr * jnp.maximum(jnp.sqrt(jnp.mean(p32 * p32, axis=f.averaging, keepdims=True)), EPSILON_SCALE)
      step = -scale * y
      if weight_decay_rate is not None:
        step = step - weight_decay_rate * p.astype(jnp.float32)
      return step.astype(p.dtype), v_row, v_col, v

    param_tree = grads if params is None else params  # only read when scaling or decaying
    out = jax.tree.map(one, plan, grads, param_tree, state.v_row, state.v_col, state.v)

    def pick(i):
      return jax.tree.map(lambda _, o: o[i], plan, out)

    return pick(0), AdafactorState(count=state.count + 1, v_row=pick(1), v_col=pick(2), v=pick(3))

  return optax.GradientTransformation(init, update)
