"""`flanx bench train`: training-step speed of a gin-configured model, and its MFU.

  python -m flanx.bench train --gin_file=gin/models/t5_1_1/small.gin [--batch_size=8]
      [--inputs_length=512] [--targets_length=128] [--steps=3] [--gin.NAME=VALUE ...]

MFU is the model's FLOP rate divided by the peak that this same process measures with a large float32
matrix product on the same devices, so the figure is a ratio of two measurements taken side by side.
The same steps are then timed with the host reading a metric after every step (HOST_SYNC_PERIOD = 1),
the cost that a longer sync period avoids by letting the host dispatch ahead of the devices.
"""

import argparse
import time
from collections.abc import Sequence

import gin
import jax
import numpy as np

from flanx import gin_config, partitioning
from flanx.errors import FlanxError
from flanx.flops import measure_peak_flops
from flanx.optimizer import OptimizerConfig
from flanx.trainer import Trainer


@gin.configurable
def bench_model(model=gin.REQUIRED, partition: partitioning.PartitionConfig = partitioning.PartitionConfig()):
  return model, partition


def _random_batch(model, batch_size: int, lengths: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  shapes = model.batch_shapes(batch_size, lengths)
  batch = {k: rng.integers(2, model.config.vocab_size, size=v, dtype=np.int32) for k, v in shapes.items()
           if k.endswith("tokens")}
  batch["decoder_loss_weights"] = np.ones(shapes["decoder_loss_weights"], np.int32)
  return batch


def _time_steps(trainer: Trainer, state, batch, rng, steps: int, sync_every_step: bool):
  """(state, seconds per step) over `steps` steps; sync_every_step reads a metric on the host after each."""
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = trainer.train_step(state, batch, rng)
    if sync_every_step:
      jax.device_get(metrics["finite/loss"])
  jax.block_until_ready(metrics)
  return state, (time.perf_counter() - start) / steps


def _layers(config) -> str:
  if hasattr(config, "num_layers"):  # decoder-only
    return f"{config.num_layers} layers"
  return f"{config.num_encoder_layers}+{config.num_decoder_layers} layers"


def main(argv: Sequence[str]) -> int:
  gin_files, bindings, rest = gin_config.split_args(argv)
  parser = argparse.ArgumentParser(prog="flanx bench train")
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--inputs_length", type=int, default=512)
  parser.add_argument("--targets_length", type=int, default=128)
  parser.add_argument("--steps", type=int, default=3)
  args = parser.parse_args(rest)
  if not gin_files:
    raise FlanxError("give a model, e.g. --gin_file=gin/models/t5_1_1/small.gin")
  gin_config.parse(gin_files, ["bench_model.model = %MODEL", *bindings])
  model, partition = bench_model()
  lengths = {"inputs": args.inputs_length, "targets": args.targets_length}

  trainer = Trainer(model, OptimizerConfig(), partitioning.Partitioner(partition), lengths)
  mesh = trainer.mesh
  trainer.check_batch_size(args.batch_size)
  batch = {k: jax.device_put(v, partitioning.batch_sharding(mesh))
           for k, v in _random_batch(model, args.batch_size, lengths).items()}
  state = trainer.init_state(jax.random.key(0))
  rng = jax.random.key(1)

  start = time.perf_counter()
  state, metrics = trainer.train_step(state, batch, rng)  # compiles
  jax.block_until_ready(metrics)
  compile_seconds = time.perf_counter() - start
  state, seconds_per_step = _time_steps(trainer, state, batch, rng, args.steps, sync_every_step=False)
  state, synced_seconds_per_step = _time_steps(trainer, state, batch, rng, args.steps, sync_every_step=True)

  peak = measure_peak_flops(jax.devices())
  tokens = args.batch_size * (lengths["inputs"] + lengths["targets"])
  model_flops = model.flops_per_example(lengths) * args.batch_size
  c = model.config
  print(f"model: {model.num_params(state.params) / 1e6:.1f}M parameters, d_model {c.emb_dim}, "
        f"{_layers(c)}, activations {c.dtype}")
  print(f"batch {args.batch_size} x (inputs {lengths['inputs']} + targets {lengths['targets']}) on "
        f"{len(jax.devices())} {jax.devices()[0].platform} device(s), mesh {dict(mesh.shape)}")
  print(f"first step (compile + run): {compile_seconds:.1f} s; timed steps: {args.steps}")
  print(f"seconds/step   {seconds_per_step:.4g}")
  print(f"tokens/s       {tokens / seconds_per_step:,.0f}")
  print(f"model TFLOP/s  {model_flops / seconds_per_step / 1e12:.4f}")
  print(f"peak TFLOP/s   {peak / 1e12:.4f}  (float32 matmul, measured in this process)")
  print(f"MFU            {model_flops / seconds_per_step / peak:.1%}")
  print(f"host sync every step: {synced_seconds_per_step:.3f} s/step, "
        f"{synced_seconds_per_step / seconds_per_step:.2f}x the free-running step")
  return 0
