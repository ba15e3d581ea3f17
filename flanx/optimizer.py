"""The optimizer of a run: T5X's Adafactor (flanx/adafactor.py, factored by logical axis names) and the paper's
learning-rate schedules."""

import dataclasses

import gin
import jax.numpy as jnp
import optax

from flanx import adafactor
from flanx.errors import FlanxError

SCHEDULES = ("constant", "rsqrt_decay")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """Flan finetuning uses a constant learning rate; rsqrt_decay is T5's pre-training schedule.

  rsqrt_decay: learning_rate / sqrt(max(step, warmup_steps)), with learning_rate typically 1.0.
  warmup_steps with 'constant': a linear ramp from 0 over that many steps.
  """

  learning_rate: float = 5e-4
  schedule: str = "constant"
  warmup_steps: int = 0
  decay_rate: float = 0.8
  clipping_threshold: float | None = 1.0
  multiply_by_parameter_scale: bool = True
  min_dim_size_to_factor: int = 128
  weight_decay_rate: float | None = None

  def __post_init__(self):
    if self.schedule not in SCHEDULES:
      raise FlanxError(f"OptimizerConfig.schedule={self.schedule!r}: use one of {', '.join(SCHEDULES)}")
    if self.learning_rate <= 0:
      raise FlanxError(f"LEARNING_RATE={self.learning_rate} must be positive")

  def learning_rate_fn(self) -> optax.Schedule:
    lr, warmup = self.learning_rate, self.warmup_steps
    if self.schedule == "rsqrt_decay":
      return lambda step: lr * jnp.reciprocal(jnp.sqrt(jnp.maximum(jnp.asarray(step, jnp.float32), max(warmup, 1))))
    if warmup:
      return optax.linear_schedule(0.0, lr, warmup)
    return optax.constant_schedule(lr)

  def build(self, param_shapes, logical_specs) -> optax.GradientTransformation:
    """Adafactor for parameters of these shapes (ShapeDtypeStructs or arrays) and logical PartitionSpecs."""
    return adafactor.adafactor(
        self.learning_rate_fn(), self.factorings(param_shapes, logical_specs), decay_rate=self.decay_rate,
        clipping_threshold=self.clipping_threshold, multiply_by_parameter_scale=self.multiply_by_parameter_scale,
        weight_decay_rate=self.weight_decay_rate)

  def factorings(self, param_shapes, logical_specs):
    return adafactor.factorings(param_shapes, logical_specs, self.min_dim_size_to_factor)

  def state_logical_specs(self, param_shapes, logical_specs) -> adafactor.AdafactorState:
    """The optimizer state's logical PartitionSpecs: each moment sharded as the dimensions of its parameter it keeps."""
    return adafactor.state_logical_specs(self.factorings(param_shapes, logical_specs), logical_specs)
