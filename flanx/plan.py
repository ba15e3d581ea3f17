"""flanx plan: will this run fit its slice, and how long will it take? Per-device memory of the train step and its
predicted step time, MFU and hours, before paying for a pod.

    flanx plan --gin_file=runs/flan_t5_xl.gin                       # the slice and mesh the gin file names
    flanx plan --gin_file=runs/flan_t5_xl.gin --topology v4-64 --mesh data=8,model=4
    flanx plan --gin_file=runs/flan_t5_base.gin --compile            # and XLA's figure for the real train step
    flanx plan --gin_file=runs/flan_t5_xl.gin --search               # the fastest layouts that fit (plan_search.py)

--compile lowers and compiles the real train step from abstract shapes on simulated CPU devices (one per device
of the mesh, at most 1,024), so nothing the size of the model is allocated, and prints XLA's memory analysis
beside the estimate and the compiled step's cost: FLOPs beside the model's, bytes accessed and every collective
by mesh axes and ICI/DCN (flanx/plan_cost.py). The time is predicted from shapes always, and from the compiled
cost too with --compile (flanx/plan_time.py, docs/tpu.md). Exit status: 0 fits, 1 does not fit, 2 bad arguments.
"""

import dataclasses
import functools
import os
import re
from collections.abc import Mapping, Sequence

import gin

from flanx import errors, gin_config, partitioning, plan_chips
from flanx.errors import FlanxError
from flanx.input import layout
from flanx.optimizer import OptimizerConfig

MAX_SIMULATED_DEVICES = 1024  # a v4-2048; compiling PaLM 540B on 512 took 45 s and 1.6 GB here
# Memory a run may plan to use: the rest is left for the runtime, program code and fragmentation.
USABLE_FRACTION = 0.9
_MESH_ITEM = re.compile(r"^(replica|data|model)=(-?\d+)$")
# Read the run's settings through the same macros `flanx train` uses.
_INPUT_BINDINGS = (
    "plan_inputs.model = %MODEL",
    "plan_inputs.partition = @PartitionConfig()",
    "plan_inputs.optimizer = @OptimizerConfig()",
    "plan_inputs.feature_lengths = %TASK_FEATURE_LENGTHS",
    "plan_inputs.batch_size = %BATCH_SIZE",
    "plan_inputs.num_microbatches = %NUM_MICROBATCHES",
    "plan_inputs.train_steps = %TRAIN_STEPS",
)


@dataclasses.dataclass(frozen=True)
class PlanInputs:
  model: object
  partition: partitioning.PartitionConfig
  optimizer: OptimizerConfig
  feature_lengths: Mapping[str, int]
  batch_size: int
  num_microbatches: int = 1
  train_steps: int | None = None


@gin.configurable
def plan_inputs(model, partition, optimizer, feature_lengths, batch_size, num_microbatches=1,
                train_steps=None) -> PlanInputs:
  # The same checks, with the same lines, as flanx train's (flanx/train.py), before any arithmetic on them.
  errors.positive_int("BATCH_SIZE", batch_size)
  errors.positive_int("NUM_MICROBATCHES", num_microbatches)
  errors.positive_int("TRAIN_STEPS", train_steps, optional=True)
  errors.feature_lengths("TASK_FEATURE_LENGTHS", feature_lengths)
  return PlanInputs(model, partition, optimizer, dict(feature_lengths), batch_size, num_microbatches, train_steps)


def load(gin_files: Sequence[str], bindings: Sequence[str]) -> PlanInputs:
  # Not finalized: MODEL_DIR and the like may still be %gin.REQUIRED, and planning needs none of them.
  gin_config.parse(gin_files, [*_INPUT_BINDINGS, *bindings], finalize=False)
  try:
    return plan_inputs()
  except TypeError as e:
    raise gin_config.call_error(e) from e


def parse_mesh(text: str) -> dict[str, int]:
  """'data=8,model=4' (replica optional, default 1) -> {'replica': 1, 'data': 8, 'model': 4}."""
  sizes = {"replica": 1, "data": 1, "model": 1}
  items = [item.strip() for item in text.split(",")] if text.strip() else []
  if not items:
    raise FlanxError("--mesh is empty; give sizes such as data=8,model=4 (axes: replica, data, model)")
  seen = set()
  for item in items:
    match = _MESH_ITEM.match(item)
    if not match:
      raise FlanxError(f"--mesh {text!r}: {item!r} is not AXIS=SIZE with AXIS one of replica, data, model")
    axis, size = match.group(1), int(match.group(2))
    if size < 1:
      raise FlanxError(f"--mesh {text!r}: {axis}={size} must be at least 1")
    if axis in seen:
      raise FlanxError(f"--mesh {text!r}: {axis} is given twice")
    seen.add(axis)
    sizes[axis] = size
  return sizes


@dataclasses.dataclass(frozen=True)
class Plan:
  inputs: PlanInputs
  topology: plan_chips.Topology
  mesh_shape: dict[str, int]
  layout: layout.DataLayout  # on the topology's hosts, as flanx train derives it from the mesh
  batch_per_device: int
  num_params: int
  estimate: "object"  # plan_memory.MemoryEstimate
  abstract: "object" = None  # plan_memory.AbstractModel: parameter shapes and logical specs, kept for costing

  @property
  def num_devices(self) -> int:
    return self.mesh_shape["replica"] * self.mesh_shape["data"] * self.mesh_shape["model"]

  @property
  def usable_bytes(self) -> int:
    return int(USABLE_FRACTION * self.topology.chip.bytes_per_device)

  @property
  def fits(self) -> bool:
    return self.estimate.total <= self.usable_bytes


def mesh_for(partition: partitioning.PartitionConfig, topology: plan_chips.Topology,
             mesh: Mapping[str, int] | None) -> dict[str, int]:
  if mesh is None:
    config = partition
    if topology.num_slices > 1 and partition.mesh_shape is not None and len(partition.mesh_shape) == 2:
      config = dataclasses.replace(partition, mesh_shape=(topology.num_slices, *partition.mesh_shape))
    elif partition.mesh_shape is None:
      config = dataclasses.replace(partition, num_slices=topology.num_slices)
    replica, data, model = config.mesh_dims(topology.num_devices)
    return {"replica": replica, "data": data, "model": model}
  needed = mesh["replica"] * mesh["data"] * mesh["model"]
  if needed != topology.num_devices:
    raise FlanxError(f"--mesh {','.join(f'{k}={v}' for k, v in mesh.items())} has {needed} devices, but "
                     f"{topology.name} has {topology.num_devices}")
  return dict(mesh)


def make_plan(inputs: PlanInputs, topology: plan_chips.Topology, mesh: Mapping[str, int] | None = None) -> Plan:
  from flanx import plan_memory

  mesh_shape = mesh_for(inputs.partition, topology, mesh)
  # The same check, with the same line, as flanx train's, on the hosts the slice has.
  hosts = layout.simulated(mesh_shape, topology.devices_per_host, inputs.batch_size, inputs.num_microbatches)
  shards = hosts.num_shards * inputs.num_microbatches
  abstract = plan_memory.AbstractModel.of(inputs.model, inputs.feature_lengths)
  rules = inputs.partition.logical_rules()
  # flanx train's line for a parameter the mesh cannot split evenly (--mesh, when given, chose the mesh).
  partitioning.check_even_split(abstract.shapes, abstract.logical_specs, rules, mesh_shape,
                                partitioning.LAYOUT_SETTINGS if mesh is None else "--mesh / PARTITIONING_RULES")
  per_device = inputs.batch_size // shards
  est = plan_memory.estimate(inputs.model, abstract, inputs.optimizer, rules, mesh_shape, inputs.feature_lengths,
                             per_device, inputs.num_microbatches)
  return Plan(inputs, topology, mesh_shape, hosts, per_device, abstract.num_params, est, abstract)


# --- compiling the real train step ------------------------------------------------------------------------------

def ensure_simulated_devices(count: int) -> None:
  """Asks XLA for `count` CPU devices, which works only before jax starts its backends (a fresh process)."""
  if count > MAX_SIMULATED_DEVICES:
    raise FlanxError(f"--compile simulates at most {MAX_SIMULATED_DEVICES} devices; this mesh has {count}")
  flags = os.environ.get("XLA_FLAGS", "")
  if "xla_force_host_platform_device_count" not in flags:
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
  os.environ.setdefault("JAX_PLATFORMS", "cpu")


@dataclasses.dataclass(frozen=True)
class CompiledStep:
  """The real train step compiled for simulated devices, and the mesh it was partitioned over (whose device
  order gives the compiled program's device ids their mesh coordinates)."""

  compiled: object  # jax.stages.Compiled
  mesh: object      # jax.sharding.Mesh

  @functools.cached_property
  def hlo(self):
    """The optimised program's text, parsed once (flanx.plan_cost.HloModule) for its memory and its cost."""
    from flanx import plan_cost  # the HLO reader, which only a compile needs

    return plan_cost.HloModule.parse(self.compiled.as_text())


def compile_train_step(plan: Plan) -> CompiledStep:
  """Lowers and compiles the real train step from abstract shapes on simulated CPU devices: one compile gives
  both the memory (compiled_memory) and the cost (flanx.plan_cost.compiled_cost)."""
  import jax
  import jax.numpy as jnp

  from flanx.trainer import Trainer

  count = plan.num_devices
  devices = jax.devices("cpu")
  if len(devices) < count:
    raise FlanxError(f"--compile needs {count} simulated devices but this process has {len(devices)}; run "
                     f"flanx plan in a fresh process (it sets XLA_FLAGS itself)")
  inputs = plan.inputs
  config = partitioning.PartitionConfig(mesh_shape=(plan.mesh_shape["replica"], plan.mesh_shape["data"],
                                                    plan.mesh_shape["model"]), rules=inputs.partition.rules)
  partitioner = partitioning.Partitioner(config, devices[:count])
  trainer = Trainer(inputs.model, inputs.optimizer, partitioner, inputs.feature_lengths, inputs.num_microbatches)
  batch_sharding = partitioner.batch_sharding
  batch = {name: jax.ShapeDtypeStruct(shape, jnp.int32, sharding=batch_sharding)
           for name, shape in inputs.model.batch_shapes(inputs.batch_size, inputs.feature_lengths).items()}
  key = jax.eval_shape(jax.random.key, 0)
  rng = jax.ShapeDtypeStruct(key.shape, key.dtype, sharding=partitioner.replicated)
  compiled = trainer.lower_train_step(trainer.abstract_state(), batch, rng).compile()
  return CompiledStep(compiled, partitioner.mesh)


def compiled_memory(plan: Plan, step: CompiledStep | None = None) -> dict[str, int]:
  """XLA's memory analysis of the real train step (per device), compiled from abstract shapes."""
  step = step or compile_train_step(plan)
  analysis = step.compiled.memory_analysis()
  figures = {name: int(getattr(analysis, f"{name}_size_in_bytes", 0))
             for name in ("argument", "output", "alias", "temp", "generated_code")}
  figures["total"] = figures["argument"] + figures["output"] - figures["alias"] + figures["temp"]
  from flanx import plan_cost

  figures["cpu_widening"] = plan_cost.widened_bytes(step.hlo)
  figures["target"] = figures["total"] - figures["cpu_widening"]
  return figures


# --- report ------------------------------------------------------------------------------------------------------

def _gib(n: float) -> str:
  """Bytes in GiB, or MiB below one GiB, so tiny models do not print as zeros."""
  return f"{n / 1024**3:8.2f} GiB" if n >= 1024**3 else f"{n / 1024**2:8.2f} MiB"


def _si(x: float, unit: str = "") -> str:
  for scale, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
    if abs(x) >= scale:
      return f"{x / scale:.3g} {prefix}{unit}"
  return f"{x:.3g} {unit}".rstrip()


def _seconds(s: float) -> str:
  if s == 0:
    return "0"
  return f"{s * 1e6:.3g} us" if s < 1e-3 else f"{s * 1e3:.3g} ms" if s < 1 else f"{s:,.3g} s"


def cost_report(plan: Plan, cost, model_flops: float) -> list[str]:
  """The compiled step's cost (flanx.plan_cost.CompiledCost) beside the analytic model FLOPs."""
  from flanx import plan_time

  expected = plan_time.remat_factor(plan.inputs.model, plan.inputs.feature_lengths)
  lines = [
      f"  compiled step, per device (dot FLOPs and bytes counted from the HLO with loop trip counts; XLA's "
      f"cost analysis counts a loop body once: {_si(cost.xla_flops, 'FLOP')}, {_gib(cost.xla_bytes_accessed).strip()})",
      f"    FLOPs {_si(cost.flops)}; analytic model FLOPs {_si(model_flops)}; compiled / model = "
      f"{cost.flops / model_flops:.3f} (remat {plan.inputs.model.config.remat_policy}"
      + (", attention blocks" if plan.inputs.model.config.attention_block_size else "")
      + f": {expected:.3f} expected)",
      f"    bytes accessed {_gib(cost.bytes_accessed).strip()}",
  ]
  if cost.collectives:
    lines.append(f"    {'collective':<20}{'axes':<16}{'net':<5}{'count':>8}{'bytes sent':>14}")
    for c in cost.collectives:
      lines.append(f"    {c.kind:<20}{'+'.join(c.axes) or '-':<16}{c.network:<5}{c.count:>8.0f}"
                   f"{_gib(c.bytes).strip():>14}")
  else:
    lines.append("    no collectives")
  return lines


def time_report(plan: Plan, step_cost, label: str) -> list[str]:
  """Predicted step time, MFU, tokens/s per device and hours for TRAIN_STEPS, from a plan_time.StepCost."""
  from flanx import plan_time

  hardware = plan_time.Hardware.of(plan.topology.chip)
  t = plan_time.predict(step_cost, hardware)
  steps = plan.inputs.train_steps
  hours = f"; {plan_time.hours(t, steps):,.3g} hours for TRAIN_STEPS={steps}" if steps else ""
  return [
      f"  time ({label}): compute {_seconds(t.compute_s)}, memory {_seconds(t.memory_s)}, ICI {_seconds(t.ici_s)}, "
      f"DCN {_seconds(t.dcn_s)} -> step {_seconds(t.seconds)} ({t.bound}-bound)",
      f"    MFU {t.mfu:.1%}; {plan_time.tokens_per_second_per_device(plan, t):,.0f} tokens/s per device{hours}",
  ]


def report(plan: Plan, gin_files: Sequence[str], compiled: Mapping[str, int] | None = None, cost=None) -> str:
  inputs, est, chip = plan.inputs, plan.estimate, plan.topology.chip
  config = inputs.model.config
  mesh = ", ".join(f"{k}={v}" for k, v in plan.mesh_shape.items())
  lines = [
      f"flanx plan: {' + '.join(gin_files)} on {plan.topology.name} ({plan.topology.num_devices} devices of "
      f"{chip.bytes_per_device / 1024**3:.1f} GiB, {chip.name}); mesh {mesh}; rules {inputs.partition.rules}",
      f"  {plan.num_params / 1e6:,.1f}M parameters; batch {inputs.batch_size} ({plan.batch_per_device} per device "
      f"per microbatch, {inputs.num_microbatches} microbatch(es)); lengths {dict(inputs.feature_lengths)}; "
      f"activations {config.dtype}; remat {config.remat_policy}; scan {config.scan_layers}"
      + (f"; attention blocks of {config.attention_block_size}" if config.attention_block_size else ""),
      *(f"  {line}" for line in plan.layout.describe()),
      f"  {'per device':<22}{'estimate':>12}" + (f"{'compiled (XLA, CPU)':>24}" if compiled else ""),
  ]
  rows = [("parameters", est.parameters), ("Adafactor state", est.optimizer_state), ("gradients", est.gradients),
          ("activations", est.activations), ("workspace", est.workspace)]
  for name, value in rows:
    lines.append(f"  {name:<22}{_gib(value):>12}")
  total = f"  {'total':<22}{_gib(est.total):>12}"
  if compiled:
    total += f"{_gib(compiled['total']):>24}"
    lines.append(total)
    lines.append(f"    XLA: arguments {_gib(compiled['argument']).strip()}, "
                 f"outputs {_gib(compiled['output']).strip()}, "
                 f"aliased {_gib(compiled['alias']).strip()}, temporaries {_gib(compiled['temp']).strip()}; "
                 f"estimate / compiled = {est.total / max(compiled['total'], 1):.2f}")
    if compiled["cpu_widening"]:
      widened, target = _gib(compiled["cpu_widening"]).strip(), _gib(compiled["target"]).strip()
      lines.append(f"    XLA's CPU compiler makes {widened} of float32 copies of bfloat16 arrays, which a "
                   f"{chip.name}'s does not: {target} if they are live at the peak "
                   f"(estimate / that = {est.total / max(compiled['target'], 1):.2f})")
  else:
    lines.append(total)
  lines.append(f"  {'device memory':<22}{_gib(chip.bytes_per_device):>12}  (plan within {USABLE_FRACTION:.0%}: "
               f"{_gib(plan.usable_bytes).strip()})")
  lines.extend(_time_lines(plan, cost))
  margin = plan.usable_bytes - est.total
  if plan.fits:
    lines.append(f"fits: yes, {_gib(margin).strip()} to spare per device ({est.total / chip.bytes_per_device:.0%} "
                 f"of {chip.name} memory)")
  else:
    lines.append(f"fits: NO, {_gib(-margin).strip()} over per device; use more devices, a larger model axis, "
                 f"REMAT_POLICY='full', NUM_MICROBATCHES, or the model_parallel_2d rules")
  return "\n".join(lines)


def _time_lines(plan: Plan, cost) -> list[str]:
  from flanx import plan_time

  chip = plan.topology.chip
  lines = [f"  {chip.name} per device: {_si(chip.peak_flops, 'FLOP/s')} bf16, HBM {_si(chip.hbm_bytes_per_s, 'B/s')}, "
           f"ICI {_si(chip.ici_bytes_per_s, 'B/s')}, DCN {_si(chip.dcn_bytes_per_s, 'B/s')} (flanx/plan_chips.py); "
           f"step = max(compute + memory, ICI) + DCN"]
  estimate = plan_time.analytic_cost(plan)
  if cost is not None:
    lines.extend(cost_report(plan, cost, estimate.model_flops))
  lines.extend(time_report(plan, estimate, "estimate from shapes"))
  if cost is not None:
    lines.extend(time_report(plan, cost.step_cost(estimate.model_flops), "from the compiled program"))
  lines.append("    predictions, not timings, until a run on the target hardware confirms them (docs/tpu.md)")
  return lines
