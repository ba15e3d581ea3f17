"""The timed half of `flanx bench train` (and `bench plan`'s random batch): the gin-built model to time, random
batches, timed steps, and the `--against optax` baseline stepped alternately with flanx's.

Apart from flanx/bench/train.py (the command line) so that its --help and flag mistakes answer before jax,
optax and the model are imported (as flanx/convert_cli.py is apart from flanx/convert.py).
"""

import dataclasses
import time

import gin
import jax
import numpy as np
import optax
from jax.sharding import PartitionSpec

from flanx import partitioning
from flanx.optimizer import OptimizerConfig
from flanx.trainer import Trainer


@gin.configurable
def bench_model(model=gin.REQUIRED, partition: partitioning.PartitionConfig = partitioning.PartitionConfig()):
  return model, partition


def random_batch(model, batch_size: int, lengths: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  shapes = model.batch_shapes(batch_size, lengths)
  batch = {k: rng.integers(2, model.config.vocab_size, size=v, dtype=np.int32) for k, v in shapes.items()
           if k.endswith("tokens")}
  batch["decoder_loss_weights"] = np.ones(shapes["decoder_loss_weights"], np.int32)
  return batch


def time_steps(trainer: Trainer, state, batch, rng, steps: int, sync_every_step: bool):
  """(state, seconds per step) over `steps` steps; sync_every_step reads a metric on the host after each."""
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = trainer.train_step(state, batch, rng)
    if sync_every_step:
      jax.device_get(metrics["finite/loss"])
  jax.block_until_ready(metrics)
  return state, (time.perf_counter() - start) / steps


@dataclasses.dataclass(frozen=True)
class OptaxAdafactor:
  """optax's Adafactor, factored by shape alone (the 4-D scanned attention kernels stay whole), with the
  settings of `config`: the `--against optax` baseline. Its state is replicated."""
  config: OptimizerConfig = OptimizerConfig()

  def learning_rate_fn(self) -> optax.Schedule:
    return self.config.learning_rate_fn()

  def build(self, param_shapes, logical_specs) -> optax.GradientTransformation:
    c = self.config
    return optax.adafactor(c.learning_rate_fn(), min_dim_size_to_factor=c.min_dim_size_to_factor,
                           decay_rate=c.decay_rate, multiply_by_parameter_scale=c.multiply_by_parameter_scale,
                           clipping_threshold=c.clipping_threshold, weight_decay_rate=c.weight_decay_rate)

  def state_logical_specs(self, param_shapes, logical_specs):
    shapes = jax.eval_shape(self.build(param_shapes, logical_specs).init, param_shapes)
    return jax.tree.map(lambda _: PartitionSpec(), shapes)


def other_trainer_step(trainer: Trainer, batch, rng):
  """A step function of another trainer on its own state (the `--against optax` side)."""
  holder = {"state": trainer.init_state(jax.random.key(0))}

  def step():
    holder["state"], metrics = trainer.train_step(holder["state"], batch, rng)
    jax.block_until_ready(metrics)

  step()  # compiles
  return step


def alternate(trainer: Trainer, state, batch, rng, baseline_step, steps: int):
  """(state, (flanx seconds, other seconds)): one flanx step, then one step of the baseline, `steps` times.

  Interleaving puts both sides under the same load from other processes; each flanx step is waited for,
  so neither side's work overlaps the other's.
  """
  flanx_times, baseline_times = [], []
  for _ in range(steps):
    start = time.perf_counter()
    state, metrics = trainer.train_step(state, batch, rng)
    jax.block_until_ready(metrics)
    flanx_times.append(time.perf_counter() - start)
    start = time.perf_counter()
    baseline_step()
    baseline_times.append(time.perf_counter() - start)
  return state, (flanx_times, baseline_times)
