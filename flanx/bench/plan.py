"""`flanx bench plan`: the time model of `flanx plan` against measured train steps on this machine.

  flanx bench plan                                   # the tiny demo T5 and T5 Small (batch 2, 512 + 128)
  flanx bench plan --gin_file=runs/flan_t5_small.gin [--batch_size=2] [--inputs_length=512]
      [--targets_length=128] [--steps=5] [--measure_seconds=2] [--gin.NAME=VALUE ...]

Measures this machine's peak FLOP/s (a float32 matrix product) and memory bandwidth (a streaming update),
then for each run compiles its train step on this process's devices, predicts its time from the compiled cost
with flanx.plan_time.predict, times real steps of the same program, and prints the error. Activations are
float32 (the measured peak's precision). The cost is read from the very program that runs, so the comparison
checks the time model and the hardware figures, not the simulated compile.
"""

import argparse
import dataclasses
import statistics
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flanx import gin_config, host_memory  # light: jax and the model once the flags are known to be usable
from flanx.errors import FlanxError

if TYPE_CHECKING:
  from flanx import plan_cost, plan_time


@dataclasses.dataclass(frozen=True)
class Case:
  name: str
  gin_file: str
  batch_size: int | None = None   # None: the run file's
  inputs_length: int | None = None
  targets_length: int | None = None


DEFAULT_CASES = (Case("tiny T5 (runs/demo.gin)", "runs/demo.gin"),
                 Case("T5 Small (runs/flan_t5_small.gin)", "runs/flan_t5_small.gin", 2, 512, 128))


@dataclasses.dataclass(frozen=True)
class Result:
  name: str
  predicted: "plan_time.StepTime"
  measured_median: float
  measured_best: float
  cost: "plan_cost.CompiledCost"

  @property
  def error(self) -> float:
    """predicted / measured - 1, against the median step."""
    return self.predicted.seconds / self.measured_median - 1


def run_case(case: Case, bindings: Sequence[str], hardware: "plan_time.Hardware", steps: int) -> Result:
  import jax

  from flanx import partitioning, plan, plan_cost, plan_time
  from flanx.bench.train_steps import random_batch
  from flanx.input import layout
  from flanx.trainer import Trainer
  inputs = plan.load([case.gin_file], ["ACTIVATION_DTYPE = 'float32'", *bindings])
  lengths = dict(inputs.feature_lengths)
  if case.inputs_length:
    lengths["inputs"] = case.inputs_length
  if case.targets_length:
    lengths["targets"] = case.targets_length
  batch_size = case.batch_size or inputs.batch_size
  # The run file's slice is not this machine: one mesh over the devices this process has.
  config = partitioning.PartitionConfig(num_partitions=1, mesh_shape=(jax.device_count(), 1), num_slices=1,
                                       rules=inputs.partition.rules, topology=None)
  partitioner = partitioning.Partitioner(config)
  trainer = Trainer(inputs.model, inputs.optimizer, partitioner, lengths, inputs.num_microbatches)
  layout.from_mesh(partitioner.mesh, batch_size, inputs.num_microbatches, names=("--batch_size", "NUM_MICROBATCHES"))
  batch = {k: jax.device_put(v, partitioner.batch_sharding)
           for k, v in random_batch(inputs.model, batch_size, lengths).items()}
  state = trainer.init_state(jax.random.key(0))
  rng = jax.random.key(1)
  # One compile: the program costed is the program timed.
  compiled = trainer.lower_train_step(state, batch, rng).compile()
  cost = plan_cost.cost_of(compiled, partitioner.mesh)
  model_flops = plan_time.model_flops(inputs.model, lengths, batch_size, partitioner.mesh.size)
  predicted = plan_time.predict(cost.step_cost(model_flops), hardware)
  state, metrics = compiled(state, batch, rng)  # untimed: buffers are allocated and caches filled
  jax.block_until_ready(metrics)
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    state, metrics = compiled(state, batch, rng)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  name = f"{case.name}: batch {batch_size} x ({lengths['inputs']} + {lengths['targets']})"
  return Result(name, predicted, statistics.median(times), min(times), cost)


def roofline_on_totals(result: Result, hardware: "plan_time.Hardware") -> float:
  """The alternative the time model is checked against: all FLOPs and all bytes overlapping perfectly."""
  return max(result.cost.flops / hardware.peak_flops, result.cost.bytes_accessed / hardware.hbm_bytes_per_s)


def _print(result: Result, hardware: "plan_time.Hardware") -> None:
  p, measured = result.predicted, result.measured_median
  other = roofline_on_totals(result, hardware)
  print(f"{result.name}")
  print(f"  compiled cost per device: {result.cost.flops / 1e9:,.3g} GFLOP (dots), "
        f"{result.cost.bytes_accessed / 2**20:,.1f} MiB accessed ({result.cost.dot_bytes / 2**20:,.1f} MiB by the "
        f"matrix-product operations)")
  print(f"  predicted: compute {p.compute_s:.4g} s + memory {p.memory_s:.4g} s = step {p.seconds:.4g} s")
  print(f"  measured:  median {measured:.4g} s, best {result.measured_best:.4g} s; the rest per operation "
        f"executed ({result.cost.operations:,.0f}, loop trips included): "
        f"{(measured - p.seconds) / max(result.cost.operations, 1) * 1e6:.2g} us")
  print(f"  error (predicted / measured median - 1): {result.error:+.1%} (against the best step "
        f"{p.seconds / result.measured_best - 1:+.1%}); a roofline on the totals, max(FLOPs / peak, bytes / "
        f"bandwidth) = {other:.4g} s, would be {other / measured - 1:+.1%}")


def main(argv: Sequence[str]) -> int:
  gin_files, bindings, rest = gin_config.split_args(argv)
  parser = argparse.ArgumentParser(prog="flanx bench plan", description=__doc__.split("\n\n")[0])
  parser.add_argument("--batch_size", type=int)
  parser.add_argument("--inputs_length", type=int)
  parser.add_argument("--targets_length", type=int)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--measure_seconds", type=float, default=2.0,
                      help="time the peak and the bandwidth for at least this long each (the fastest run counts)")
  args = parser.parse_args(rest)
  for name in ("batch_size", "inputs_length", "targets_length", "steps", "measure_seconds"):
    value = getattr(args, name)
    if value is not None and value <= 0:
      raise FlanxError(f"--{name}={value} must be positive")
  sizes = [f"--{n}" for n in ("batch_size", "inputs_length", "targets_length") if getattr(args, n) is not None]
  if sizes and not gin_files:
    raise FlanxError(f"{', '.join(sizes)} need a --gin_file: the default runs keep their own sizes")
  if len(gin_files) > 1:
    raise FlanxError(f"flanx bench plan takes one --gin_file (a run), got {len(gin_files)}")
  cases = DEFAULT_CASES if not gin_files else (
      Case(gin_files[0], gin_files[0], args.batch_size, args.inputs_length, args.targets_length),)
  host_memory.keep_large_buffers()  # before jax starts
  import jax

  from flanx import plan_time
  from flanx.flops import measure_memory_bandwidth, measure_peak_flops
  devices = jax.devices()
  print(f"[bench plan] measuring the float32 matmul peak and memory bandwidth of {len(devices)} "
        f"{devices[0].platform} device(s) ...", flush=True)
  repeats = max(3, int(10 * args.measure_seconds))  # 20 at the default, as flanx bench train measures
  peak = measure_peak_flops(devices, repeats=repeats, min_seconds=args.measure_seconds) / len(devices)
  bandwidth = measure_memory_bandwidth(devices, repeats=repeats, min_seconds=args.measure_seconds) / len(devices)
  # No collectives on one device; ICI and DCN stand in at the memory bandwidth for meshes of local devices.
  hardware = plan_time.Hardware("this machine (measured)", peak, bandwidth, bandwidth, bandwidth)
  print(f"per device: peak {peak / 1e9:,.1f} GFLOP/s (float32 matmul), memory {bandwidth / 1e9:,.2f} GB/s")
  results = []
  for case in cases:
    print(f"[bench plan] {case.name}: compiling, predicting, timing {args.steps} steps ...", flush=True)
    results.append(run_case(case, bindings, hardware, args.steps))
    _print(results[-1], hardware)
  print("time model (flanx/plan_time.py): step = max(compute + memory, ICI) + DCN")
  for r in results:
    print(f"  {r.name}: predicted {r.predicted.seconds:.4g} s, measured {r.measured_median:.4g} s, "
          f"error {r.error:+.1%}")
  return 0
