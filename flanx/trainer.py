"""The sharded training state and the jitted train and eval steps.

`Trainer` derives every sharding from the model's logical axis names and the partitioning rules, builds
the state directly in its sharded layout (the full model is never materialised on one host), and compiles
one train step with explicit in/out shardings and buffer donation.
"""

from collections.abc import Mapping
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from flanx import losses, nonfinite, partitioning
from flanx.optimizer import OptimizerConfig

Batch = Mapping[str, jax.Array]


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def _split_microbatches(batch: Batch, n: int) -> Batch:
  """(B, ...) -> (n, B/n, ...), microbatch i holding rows i, n+i, 2n+i, ...

  Interleaving keeps every microbatch spread evenly over the data-parallel shards, so no rows move.
  """
  def split(x):
    return jnp.swapaxes(x.reshape((x.shape[0] // n, n) + x.shape[1:]), 0, 1)
  return {k: split(v) for k, v in batch.items()}


class Trainer:
  """One model, one optimizer, one mesh: sharded init, train step and eval step."""

  def __init__(self, model, optimizer: OptimizerConfig, partitioner: partitioning.Partitioner,
               feature_lengths: Mapping[str, int], num_microbatches: int = 1, skip_nonfinite: bool = False,
               abstract_params: tuple[Any, Any] | None = None):
    """abstract_params: the partitioner's (shapes, logical specs) of `model` at `feature_lengths`, when the caller
    has traced them already (train's even-split check); else traced here."""
    self.model, self.partitioner = model, partitioner
    self.mesh, self.rules = partitioner.mesh, partitioner.rules
    mesh = self.mesh
    self.skip_nonfinite = skip_nonfinite  # NONFINITE_POLICY='skip': a NaN/Inf update leaves the state unchanged
    self.feature_lengths = dict(feature_lengths)
    self.num_microbatches = num_microbatches
    self.learning_rate_fn = optimizer.learning_rate_fn()

    self.param_shapes, self.param_logical_specs = (abstract_params if abstract_params is not None
                                                   else partitioner.abstract_params(model, self.feature_lengths))
    self.param_shardings = partitioner.shardings(self.param_logical_specs)
    self.tx = optimizer.build(self.param_shapes, self.param_logical_specs)
    opt_shapes = jax.eval_shape(self.tx.init, self.param_shapes)
    # Each second moment is sharded as the dimensions of its parameter that it keeps (by logical axis name).
    self.state_shardings = TrainState(
        step=partitioning.replicated(mesh),
        params=self.param_shardings,
        opt_state=partitioner.shardings(optimizer.state_logical_specs(self.param_shapes, self.param_logical_specs)),
    )
    self._state_shapes = TrainState(step=jax.ShapeDtypeStruct((), jnp.int32), params=self.param_shapes,
                                    opt_state=opt_shapes)
    self._batch_sharding = partitioning.batch_sharding(mesh)
    self._replicated = partitioning.replicated(mesh)
    self._train_step = partitioner.jit(
        self._step, in_shardings=(self.state_shardings, self._batch_sharding, self._replicated),
        out_shardings=(self.state_shardings, self._replicated), donate_argnums=(0,))
    self._eval_step = partitioner.jit(self._eval, in_shardings=(self.param_shardings, self._batch_sharding),
                                      out_shardings=self._replicated)

  def context(self):
    """Mesh and logical rules in scope, so with_logical_constraint inside the model resolves."""
    return self.partitioner.context()

  # --- state ---------------------------------------------------------------------------------------

  def init_state(self, rng: jax.Array) -> TrainState:
    def init(rng):
      params = nn.meta.unbox(self.model.init(rng, self.feature_lengths))
      return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=self.tx.init(params))
    with self.context():
      return jax.jit(init, out_shardings=self.state_shardings)(rng)

  def abstract_state(self) -> TrainState:
    """Shapes, dtypes and target shardings of the state: what a checkpoint restores into."""
    return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                        self._state_shapes, self.state_shardings)

  def state_from_params(self, params) -> TrainState:
    """A fresh state (step 0, new optimizer moments) around restored parameters."""
    with self.context():
      opt_state = jax.jit(self.tx.init, out_shardings=self.state_shardings.opt_state)(params)
    step = jax.device_put(jnp.zeros((), jnp.int32), self.state_shardings.step)
    return TrainState(step=step, params=params, opt_state=opt_state)

  # --- steps ---------------------------------------------------------------------------------------

  def _loss_and_grads(self, params, batch: Batch, rng: jax.Array, normalizer: jax.Array):
    def objective(p, mb, mb_rng):
      sums = self.model.loss_sums(p, mb, mb_rng)
      return sums["objective"] / normalizer, sums

    grad_fn = jax.grad(objective, has_aux=True)
    if self.num_microbatches == 1:
      return grad_fn(params, batch, rng)

    def accumulate(carry, xs):
      index, microbatch = xs
      grads, sums = grad_fn(params, microbatch, None if rng is None else jax.random.fold_in(rng, index))
      return jax.tree.map(jnp.add, carry, (grads, sums)), None

    zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(grad_fn, params, batch, rng))
    micro = _split_microbatches(batch, self.num_microbatches)
    (grads, sums), _ = jax.lax.scan(accumulate, zeros, (jnp.arange(self.num_microbatches), micro))
    return grads, sums

  def _normalizer(self, batch: Batch) -> jax.Array:
    """The whole (global) batch's loss-normalising factor; packed batches count their segments."""
    return losses.normalizing_factor(self.model.loss_normalizing_factor, batch["decoder_loss_weights"],
                                     batch.get("decoder_segment_ids"))

  def _metrics(self, sums, normalizer):
    tokens = jnp.maximum(sums["target_tokens"], 1.0)
    return {
        "loss": sums["objective"] / normalizer,
        "cross_entropy": sums["cross_entropy"] / tokens,
        "z_loss": sums["z_loss"] / tokens,
        "accuracy": sums["correct_tokens"] / tokens,
        "target_tokens": sums["target_tokens"],
    }

  def _step(self, state: TrainState, batch: Batch, rng: jax.Array):
    dropout_rng = jax.random.fold_in(rng, state.step) if self.model.config.dropout_rate > 0 else None
    normalizer = self._normalizer(batch)  # once: it scales the gradients and the reported loss alike
    grads, sums = self._loss_and_grads(state.params, batch, dropout_rng, normalizer)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = self._metrics(sums, normalizer)
    metrics["learning_rate"] = self.learning_rate_fn(state.step)
    metrics["grad_norm"] = optax.global_norm(grads)
    metrics.update(nonfinite.finite_metrics(metrics["loss"], metrics["grad_norm"]))
    if self.skip_nonfinite:
      finite = {k: v for k, v in metrics.items() if k.startswith("finite/")}
      params, opt_state = nonfinite.keep_if_finite(finite, (params, opt_state), (state.params, state.opt_state))
    return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

  def _eval(self, params, batch: Batch):
    sums = self.model.loss_sums(params, batch, None)
    return self._metrics(sums, self._normalizer(batch))

  def train_step(self, state: TrainState, batch: Batch, rng: jax.Array) -> tuple[TrainState, dict]:
    """One optimizer step on a global batch. `state` is donated: use only the returned one."""
    return self._train_step(state, batch, rng)

  def lower_train_step(self, state, batch: Batch, rng: jax.Array):
    """The train step lowered for these (possibly abstract) arguments: `.compile().memory_analysis()` sizes it."""
    return self._train_step.lower(state, batch, rng)

  def eval_step(self, params, batch: Batch) -> dict:
    return self._eval_step(params, batch)
