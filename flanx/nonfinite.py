"""What a NaN or Inf in the loss or gradients does to a run: NONFINITE_POLICY = 'halt' or 'skip'.

The check itself is compiled into the train step (`finite_flags`), so it costs two reductions, not a host
round trip per quantity. 'skip' keeps the previous parameters and optimizer state but still advances the step
(the batch is consumed, so resumption stays aligned with the data), and halts when more than
MAX_CONSECUTIVE_SKIPS updates in a row were skipped: a run that cannot take a finite step (a learning rate
of 1e10) must not go on writing checkpoints of parameters that no longer change. 'halt' stops before the
poisoned state can be logged as progress or checkpointed. Whatever the policy, `checkpoints.Checkpointer.save` refuses
non-finite parameters.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from flanx import errors
from flanx.errors import FlanxError

POLICIES = ("halt", "skip")
# The quantities checked, in the order they are computed; the first non-finite one is named.
QUANTITIES = ("loss", "gradients")


def check_policy(policy: str) -> None:
  if policy not in POLICIES:
    raise FlanxError(f"NONFINITE_POLICY={policy!r}: use one of {', '.join(repr(p) for p in POLICIES)}")


def finite_metrics(loss: jax.Array, grad_norm: jax.Array) -> dict[str, jax.Array]:
  """{'finite/<quantity>': 1.0 or 0.0}; a NaN anywhere in the gradients makes their global norm NaN."""
  return {f"finite/{q}": jnp.isfinite(v).astype(jnp.float32) for q, v in zip(QUANTITIES, (loss, grad_norm))}


def keep_if_finite(finite: dict[str, jax.Array], new, old):
  """The new pytree where every quantity was finite, else the old one (used under 'skip')."""
  ok = jnp.all(jnp.stack(list(finite.values())) > 0)
  return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)


@jax.jit
def _all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def all_finite(tree) -> bool:
  """Host-side check of a whole pytree (the parameters before a checkpoint is written).

  One compiled reduction with a replicated result: per-leaf eager ops on arrays sharded across processes
  would each be a separate cross-process computation (and hung the two-process run on CPU).
  """
  return bool(jax.device_get(_all_finite(tree)))


@dataclasses.dataclass
class NonfiniteMonitor:
  """Host side of the policy: collects each step's flags, reads them at sync points, halts or counts skips.

  `observe` only keeps the (device) flags, so the host can dispatch the next steps without waiting; `flush`
  reads everything kept since the last sync in one transfer and names the exact step that went non-finite.
  """
  policy: str = "halt"
  max_consecutive_skips: int = 10
  skipped: int = 0
  consecutive: int = 0

  def __post_init__(self):
    check_policy(self.policy)
    errors.positive_int("MAX_CONSECUTIVE_SKIPS", self.max_consecutive_skips, minimum=0)
    self._pending: list[tuple[int, list[jax.Array]]] = []

  def observe(self, step: int, metrics: dict) -> None:
    self._pending.append((step, [metrics[f"finite/{q}"] for q in QUANTITIES]))

  def flush(self) -> None:
    """Raises under 'halt' at the first non-finite step kept; counts and warns under 'skip'."""
    if not self._pending:
      return
    steps = [step for step, _ in self._pending]
    flags = np.asarray(jax.device_get([f for _, f in self._pending]))  # [steps, quantities]
    self._pending = []
    for step, step_flags in zip(steps, flags):
      if step_flags.all():
        self.consecutive = 0
        continue
      first = QUANTITIES[int(np.argmin(step_flags))]
      if self.policy == "halt":
        raise FlanxError(f"non-finite {first} at step {step} (NONFINITE_POLICY='halt'); the last checkpoint holds "
                         f"finite parameters; set NONFINITE_POLICY='skip' to skip such updates")
      self.skipped += 1
      self.consecutive += 1
      if self.consecutive > self.max_consecutive_skips:
        raise FlanxError(f"non-finite {first} at step {step}: {self.consecutive} updates in a row skipped, more than "
                         f"MAX_CONSECUTIVE_SKIPS={self.max_consecutive_skips} (NONFINITE_POLICY='skip'); the last "
                         f"checkpoint holds finite parameters; lower LEARNING_RATE or look at the data of these steps")
      print(f"flanx: warning: non-finite {first} at step {step}: update skipped ({self.skipped} so far)", flush=True)
