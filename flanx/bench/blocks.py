"""`flanx bench blocks`: the attention core and the gated MLP, forward + backward, against plain autodiff.

  flanx bench blocks [--batch_size=8] [--length=512] [--heads=6] [--head_dim=64] [--embed=512]
      [--mlp=1024] [--steps=7] [--blockwise_batch=2] [--blockwise_length=2048] [--block_size=512]

Times jax.grad of a loss over `attention.attend` and `gated_mlp.gated_mlp` (the hand-written backwards
that the T5 and PaLM layers use) and over their plain references (`plain_attend`, `plain_gated_mlp`,
differentiated by autodiff), alternating the two, one call each per round, in this process: load from
other processes hits both alike. Defaults are T5 v1.1 Small's encoder layer at batch 8 x 512, float32,
with a relative-position bias and a padding mask. Prints best and median seconds and the ratio.
A third row times `blockwise_attention.attend_blockwise` against whole `attend` at T5 Small's heads and a long
sequence (--blockwise_length keys in tiles of --block_size), the shape ATTENTION_BLOCK_SIZE is for.
"""

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from flanx import host_memory
from flanx.errors import FlanxError


def _alternate(candidates: dict[str, Callable[[], object]], steps: int) -> dict[str, list[float]]:
  """Seconds per call of each candidate, called in turn `steps` times after one untimed (compiling) call."""
  for run in candidates.values():
    jax.block_until_ready(run())
  times = {name: [] for name in candidates}
  for _ in range(steps):
    for name, run in candidates.items():
      start = time.perf_counter()
      jax.block_until_ready(run())
      times[name].append(time.perf_counter() - start)
  return times


def _report(block: str, times: dict[str, list[float]]) -> None:
  (plain_name, plain), (fused_name, fused) = times.items()
  for name, t in times.items():
    print(f"  {name:<18} best {min(t) * 1e3:9.1f} ms  median {statistics.median(t) * 1e3:9.1f} ms")
  print(f"  {block}: {fused_name} is {statistics.median(plain) / statistics.median(fused):.2f}x {plain_name} "
        f"(medians), {min(plain) / min(fused):.2f}x (best)")


def attention_candidates(batch: int, length: int, heads: int, head_dim: int,
                         cores: dict[str, Callable] | None = None) -> dict[str, Callable[[], object]]:
  """jax.grad of a loss over each attention core (default: plain autodiff, then attend) at one shape."""
  from flanx.models.attention import attend, plain_attend
  keys = jax.random.split(jax.random.key(0), 5)
  q, k, v, out_weights = (jax.random.normal(keys[i], (batch, length, heads, head_dim)) for i in range(4))
  bias = jax.random.normal(keys[4], (1, heads, length, length))
  # Rows padded to different lengths, as a packed or padded batch has.
  lengths = length - (jnp.arange(batch) * length) // (2 * batch)
  valid = jnp.arange(length)[None] < lengths[:, None]
  mask = (valid[:, :, None] & valid[:, None, :])[:, None]

  def grad_of(core):
    def loss(q, k, v, bias):
      return jnp.sum(core(q, k, v, bias, mask) * out_weights)

    step = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))
    return lambda: step(q, k, v, bias)

  cores = cores or {"plain autodiff": plain_attend, "attend": attend}
  return {name: grad_of(core) for name, core in cores.items()}


def blockwise_cores(block_size: int) -> dict[str, Callable]:
  """Whole `attend` (the baseline) and `attend_blockwise` over key tiles of `block_size`."""
  from flanx.models.attention import attend
  from flanx.models.blockwise_attention import attend_blockwise

  def blockwise(q, k, v, bias, mask):
    return attend_blockwise(q, k, v, bias, mask, block_size=block_size)

  return {"attend": attend, f"blockwise ({block_size})": blockwise}


def mlp_candidates(batch: int, length: int, embed: int, mlp: int) -> dict[str, Callable[[], object]]:
  from flanx.models.gated_mlp import gated_mlp, plain_gated_mlp
  keys = jax.random.split(jax.random.key(1), 5)
  x, out_weights = (jax.random.normal(keys[i], (batch, length, embed)) for i in range(2))
  wi_0, wi_1 = (jax.random.normal(keys[i], (embed, mlp)) / embed**0.5 for i in (2, 3))
  wo = jax.random.normal(keys[4], (mlp, embed)) / mlp**0.5

  def gelu(h):
    return jax.nn.gelu(h, approximate=True)

  def grad_of(core):
    def loss(*a):
      return jnp.sum(core(*a, gelu) * out_weights)

    step = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))
    return lambda: step(x, wi_0, wi_1, wo)

  return {"plain autodiff": grad_of(plain_gated_mlp), "gated_mlp": grad_of(gated_mlp)}


def main(argv: Sequence[str]) -> int:
  parser = argparse.ArgumentParser(prog="flanx bench blocks")
  for name, default in (("batch_size", 8), ("length", 512), ("heads", 6), ("head_dim", 64), ("embed", 512),
                        ("mlp", 1024), ("steps", 7), ("blockwise_batch", 2), ("blockwise_length", 2048),
                        ("block_size", 512)):
    parser.add_argument(f"--{name}", type=int, default=default)
  args = parser.parse_args(argv)
  for name, value in vars(args).items():
    if value <= 0:
      raise FlanxError(f"--{name}={value} must be positive")
  if args.blockwise_length % args.block_size:
    raise FlanxError(f"--block_size={args.block_size} must divide --blockwise_length={args.blockwise_length}")
  kept = host_memory.keep_large_buffers()  # as `bench train` does, before JAX starts its thread pools
  print(f"[bench blocks] batch {args.batch_size} x {args.length}, float32, {args.steps} rounds, alternating; "
        f"glibc keeps large buffers: {'yes' if kept else 'no'}", flush=True)
  print(f"attention core, {args.heads} heads x {args.head_dim}, bias and padding mask (forward + backward):",
        flush=True)
  _report("attention", _alternate(attention_candidates(args.batch_size, args.length, args.heads, args.head_dim),
                                  args.steps))
  print(f"gated-GELU MLP, {args.embed} -> 2 x {args.mlp} -> {args.embed} (forward + backward):", flush=True)
  _report("MLP", _alternate(mlp_candidates(args.batch_size, args.length, args.embed, args.mlp), args.steps))
  print(f"attention over key tiles, batch {args.blockwise_batch} x {args.blockwise_length}, {args.heads} heads x "
        f"{args.head_dim}, bias and padding mask (forward + backward):", flush=True)
  _report("blockwise attention", _alternate(
      attention_candidates(args.blockwise_batch, args.blockwise_length, args.heads, args.head_dim,
                           blockwise_cores(args.block_size)), args.steps))
  return 0
