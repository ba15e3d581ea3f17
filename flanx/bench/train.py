"""`flanx bench train`: training-step speed of a gin-configured model, and its MFU.

  flanx bench train [--gin_file=gin/models/t5_1_1/small.gin] [--batch_size=8] [--inputs_length=512]
      [--targets_length=128] [--steps=3] [--against=hf|optax] [--gin.NAME=VALUE ...]

MFU is the model's FLOP rate divided by the peak that this same process measures with a large float32
matrix product on the same devices, so the figure is a ratio of two measurements taken side by side.
The same steps are then timed with the host reading a metric after every step (HOST_SYNC_PERIOD = 1),
the cost that a longer sync period avoids by letting the host dispatch ahead of the devices.
On CPU, activations default to float32, the torch baseline's precision; --gin.ACTIVATION_DTYPE overrides.
`--against hf` times a torch T5ForConditionalGeneration step with Adafactor on the same batch (flanx.bench.hf_baseline),
alternating one flanx step and one torch step, so that load from other processes hits both sides alike; the
ratio is that of the two sides' median steps. `--against optax` times, the same way, the same model's step with
optax's shape-factored Adafactor (flanx's optimizer before it took T5X's, flanx/adafactor.py).
Before JAX starts, glibc is told to keep large buffers in its heap (flanx.host_memory): both sides of the
comparison run in this process and share that setting.
"""

import argparse
import statistics
import time
from collections.abc import Sequence

from flanx import errors, gin_config, host_memory  # light: jax, optax and the model once the flags are usable
from flanx.errors import FlanxError


def _layers(config) -> str:
  if hasattr(config, "num_layers"):  # decoder-only
    return f"{config.num_layers} layers"
  return f"{config.num_encoder_layers}+{config.num_decoder_layers} layers"


DEFAULT_MODEL = "models/t5_1_1/small.gin"
# What lays the benchmarked model out (bench_model.partition = @PartitionConfig()), named when it splits a
# parameter unevenly.
LAYOUT_SETTINGS = "--gin.PartitionConfig.num_partitions / mesh_shape / rules"


def _phase(text: str) -> None:
  """One line as each phase starts, so a long compile or baseline never looks like a hang."""
  print(f"[bench train] {text} ...", flush=True)


def main(argv: Sequence[str]) -> int:
  gin_files, bindings, rest = gin_config.split_args(argv)
  parser = argparse.ArgumentParser(prog="flanx bench train", description=__doc__.splitlines()[0])
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--inputs_length", type=int, default=512)
  parser.add_argument("--targets_length", type=int, default=128)
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--num_microbatches", type=int, default=1,
                      help="accumulate each step's gradient over this many microbatches (NUM_MICROBATCHES)")
  parser.add_argument("--against", choices=("hf", "optax"), default=None,
                      help="also time, in this process, a Hugging Face T5ForConditionalGeneration step (torch) "
                           "or this model's step with optax's shape-factored Adafactor")
  args = parser.parse_args(rest)
  for name in ("batch_size", "inputs_length", "targets_length", "steps", "num_microbatches"):
    errors.positive_int(f"--{name}", getattr(args, name))
  # Before anything starts JAX's backend: threads keep the malloc arena they first used.
  kept = host_memory.keep_large_buffers()
  import jax

  from flanx import partitioning
  from flanx.bench import train_steps
  from flanx.flops import measure_peak_flops
  from flanx.input import layout
  from flanx.optimizer import OptimizerConfig
  from flanx.trainer import Trainer
  gin_files = gin_files or [DEFAULT_MODEL]
  # On CPU, float32 activations: the precision of the torch baseline, so `--against hf` compares equal work
  # (docs/performance.md has the bfloat16 figure). --gin.ACTIVATION_DTYPE overrides.
  cpu_defaults = ["ACTIVATION_DTYPE = 'float32'"] if jax.default_backend() == "cpu" else []
  _phase(f"building {', '.join(gin_files)}")
  gin_config.parse(gin_files, ["bench_model.model = %MODEL", *cpu_defaults, *bindings])
  model, partition = train_steps.bench_model()
  if args.against == "hf" and not hasattr(model.config, "num_encoder_layers"):
    raise FlanxError("--against hf compares T5 (encoder-decoder) models; this gin file builds another family")
  lengths = {"inputs": args.inputs_length, "targets": args.targets_length}

  names = partitioning.LayoutNames(*(f"--gin.PartitionConfig.{field}"
                                     for field in ("rules", "num_partitions", "mesh_shape", "num_slices")))
  partitioner = partitioning.Partitioner(partition, names=names)
  # One line for an uneven split, not jit's IndivisibleError at init; the same trace builds the Trainer's state.
  traced = partitioner.checked_abstract_params(model, lengths, LAYOUT_SETTINGS)
  trainer = Trainer(model, OptimizerConfig(), partitioner, lengths, args.num_microbatches, abstract_params=traced)
  mesh = trainer.mesh
  layout.from_mesh(mesh, args.batch_size, args.num_microbatches, names=("--batch_size", "--num_microbatches"))
  host_batch = train_steps.random_batch(model, args.batch_size, lengths)
  batch = {k: jax.device_put(v, partitioning.batch_sharding(mesh)) for k, v in host_batch.items()}
  _phase("initialising parameters")
  state = trainer.init_state(jax.random.key(0))
  rng = jax.random.key(1)

  _phase("compiling and running the first step")
  start = time.perf_counter()
  state, metrics = trainer.train_step(state, batch, rng)  # compiles
  jax.block_until_ready(metrics)
  compile_seconds = time.perf_counter() - start
  _phase(f"timing {args.steps} steps")
  state, seconds_per_step = train_steps.time_steps(trainer, state, batch, rng, args.steps, sync_every_step=False)
  _phase(f"timing {args.steps} steps with a host sync after each")
  state, synced_seconds_per_step = train_steps.time_steps(trainer, state, batch, rng, args.steps, sync_every_step=True)

  _phase("measuring the float32 matmul peak")
  peak = measure_peak_flops(jax.devices())
  hf = other = None
  if args.against == "optax":
    _phase("building and compiling the step with optax's Adafactor")
    baseline = Trainer(model, train_steps.OptaxAdafactor(), trainer.partitioner, lengths, args.num_microbatches)
    other_step = train_steps.other_trainer_step(baseline, batch, rng)
    _phase(f"timing {args.steps} steps with each optimizer, alternating")
    state, other = train_steps.alternate(trainer, state, batch, rng, other_step, args.steps)
  if args.against == "hf":
    from flanx.bench import hf_baseline
    _phase("building and warming up the Hugging Face (torch) step")
    hf_step = hf_baseline.train_step(hf_baseline.hf_model(model.config), host_batch)
    _phase(f"timing {args.steps} flanx and {args.steps} Hugging Face steps, alternating")
    state, hf = train_steps.alternate(trainer, state, batch, rng, hf_step, args.steps)
  tokens = args.batch_size * (lengths["inputs"] + lengths["targets"])
  model_flops = model.flops_per_example(lengths) * args.batch_size
  c = model.config
  print(f"model: {model.num_params(state.params) / 1e6:.1f}M parameters, d_model {c.emb_dim}, "
        f"{_layers(c)}, activations {c.dtype}")
  print(f"batch {args.batch_size} x (inputs {lengths['inputs']} + targets {lengths['targets']}) on "
        f"{len(jax.devices())} {jax.devices()[0].platform} device(s), mesh {dict(mesh.shape)}, "
        f"{args.num_microbatches} microbatch(es) per step")
  print(f"first step (compile + run): {compile_seconds:.1f} s; timed steps: {args.steps}")
  print(f"seconds/step   {seconds_per_step:.4g}")
  print(f"tokens/s       {tokens / seconds_per_step:,.0f}")
  print(f"model TFLOP/s  {model_flops / seconds_per_step / 1e12:.4f}")
  print(f"peak TFLOP/s   {peak / 1e12:.4f}  (float32 matmul, measured in this process)")
  print(f"MFU            {model_flops / seconds_per_step / peak:.1%}")
  print(f"host sync every step: {synced_seconds_per_step:.3f} s/step, "
        f"{synced_seconds_per_step / seconds_per_step:.2f}x the free-running step")
  print(f"glibc malloc keeps large buffers in its heap: {'yes' if kept else 'no (not glibc)'}")
  if other is not None:
    flanx_times, optax_times = other
    flanx_median, optax_median = statistics.median(flanx_times), statistics.median(optax_times)
    print(f"optax's shape-factored Adafactor, same model and batch; {args.steps} steps each, alternating (medians):")
    print(f"  seconds/step: flanx's Adafactor {flanx_median:.4g}, optax's {optax_median:.4g}")
    print(f"flanx's (T5X's) Adafactor / optax's: {optax_median / flanx_median:.2f}x tokens/s")
  if hf is not None:
    flanx_times, hf_times = hf
    flanx_median, hf_median = statistics.median(flanx_times), statistics.median(hf_times)
    print(f"Hugging Face T5ForConditionalGeneration + Adafactor (torch, {hf_baseline.torch_threads()} threads), "
          f"same shapes, dropout 0; {args.steps} steps each, alternating with flanx's (medians):")
    print(f"  seconds/step {hf_median:.4g}, tokens/s {tokens / hf_median:,.0f}, "
          f"MFU {model_flops / hf_median / peak:.1%}")
    print(f"  flanx, alternating: seconds/step {flanx_median:.4g}, tokens/s {tokens / flanx_median:,.0f}, "
          f"MFU {model_flops / flanx_median / peak:.1%}")
    print(f"  fastest steps: flanx {min(flanx_times):.4g} s, Hugging Face {min(hf_times):.4g} s "
          f"({min(hf_times) / min(flanx_times):.2f}x)")
    print(f"flanx / Hugging Face: {hf_median / flanx_median:.2f}x tokens/s")
  return 0
