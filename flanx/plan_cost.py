"""What the compiled train step costs per device: matrix FLOPs, memory traffic and the bytes of every collective,
read from the optimised HLO of the program `flanx plan --compile` builds.

XLA's own cost analysis (`compiled.cost_analysis()`) counts the body of a while loop once, whatever its trip
count, so a scanned layer stack or a microbatch loop would be undercounted by its length. Every figure here is
therefore counted from the HLO text instead, each instruction weighted by how many times its computation runs
(the product of the trip counts of the loops around it: `known_trip_count` in the while's backend config, else
the bound its condition compares the counter with). XLA's raw figures are kept beside them for reference.

- FLOPs: 2 x output elements x contracted elements of every dot and convolution (the matrix products the
  analytic model counts; elementwise work is left to the memory term).
- Bytes accessed: operands + results of every top-level instruction (a fusion counts its inputs and output, not
  its internals), skipping those that move no data (parameters, tuples, bitcasts, constants, loops, calls); a
  fusion reads only what it slices of an operand and writes a dynamic-update-slice in place. Without loops this
  equals XLA's own count.
- Collectives: bytes one device *sends* under ring algorithms over a group of n devices, from the operand size
  S: all-gather (n-1) x S (its shard to each other member), reduce-scatter (n-1)/n x S, all-reduce
  2 (n-1)/n x S (a reduce-scatter then an all-gather), all-to-all (n-1)/n x S, collective-permute S. Each is
  attributed to the mesh axes its replica groups span (device ids -> mesh coordinates through the mesh the
  program was partitioned over) and to DCN when a group spans slices (the `replica` axis of a multislice
  topology), else ICI; a group spanning slices and axes within them splits into its ICI part and the
  1/n_ici remainder over DCN, as multislice runs it. Async pairs count once, at -start.
- Bytes of matrix products: the part of the bytes read and written by instructions that compute a dot (the
  time model lets those overlap their FLOPs; flanx/plan_time.py).
"""

import collections
import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from flanx import plan_time

_ITEMSIZE = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2, "s32": 4, "u32": 4, "f32": 4,
             "s64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16, "f8e4m3fn": 1, "f8e5m2": 1, "s4": 1, "u4": 1}
_ARRAY = re.compile(r"\b(" + "|".join(sorted(_ITEMSIZE, key=len, reverse=True)) + r")\[([\d,]*)\]")
_INSTRUCTION = re.compile(r"^\s*(ROOT\s+)?%([\w.\-]+) = (.*?) ([a-z][a-z0-9\-]*)\((.*)$")
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%([\w.\-]+) .*\{\s*$")
_CALLEE = re.compile(r"\b(calls|body|condition|to_apply|branch_computations)=(%[\w.\-]+|\{[^}]*\})")
COLLECTIVES = ("all-gather", "reduce-scatter", "all-reduce", "all-to-all", "collective-permute")
# Instructions that move no data of their own (views, bookkeeping) or whose cost is counted inside their callees.
_FREE = {"parameter", "get-tuple-element", "tuple", "bitcast", "constant", "while", "call", "conditional",
         "after-all", "partition-id", "replica-id", "iota", "opt-barrier"}


def array_bytes(shape: str) -> int:
  """Bytes of every array in an HLO shape string ('f32[2,3]{1,0}', or a tuple of them)."""
  return sum(_ITEMSIZE[t] * math.prod(int(d) for d in dims.split(",") if d) for t, dims in _ARRAY.findall(shape))


def _dims(shape: str) -> list[int]:
  match = _ARRAY.search(shape)
  return [int(d) for d in match.group(2).split(",") if d] if match else []


@dataclasses.dataclass
class _Instruction:
  name: str
  shape: str
  opcode: str
  rest: str  # operands and attributes
  computation: str
  root: bool = False

  def operand_names(self) -> list[str]:
    depth, end = 1, len(self.rest)
    for i, ch in enumerate(self.rest):  # the operand list ends at the parenthesis closing the opcode's
      depth += ch == "("
      depth -= ch == ")"
      if depth == 0:
        end = i
        break
    return re.findall(r"%([\w.\-]+)", self.rest[:end])

  def attribute(self, name: str) -> str | None:
    match = re.search(rf"\b{name}=(\{{[^}}]*\}}|\S+?)(?:,\s|$)", self.rest)
    return match.group(1) if match else None


@dataclasses.dataclass
class HloModule:
  """The parts of an HLO module's text this module needs: instructions by computation, shapes by name."""

  computations: dict[str, list[_Instruction]]
  entry: str
  shapes: dict[str, str]
  fusions: set[str]  # computations called by fusions or as reducers: their instructions are not top level

  @classmethod
  def parse(cls, text: str) -> "HloModule":
    computations, shapes, fusions, entry, current = {}, {}, set(), "", None
    for line in text.splitlines():
      header = _COMPUTATION.match(line)
      if header and not line.startswith(" "):
        current = header.group(1)
        computations[current] = []
        if line.startswith("ENTRY"):
          entry = current
        continue
      match = _INSTRUCTION.match(line)
      if match and current is not None:
        ins = _Instruction(match.group(2), match.group(3), match.group(4), match.group(5), current,
                           root=bool(match.group(1)))
        computations[current].append(ins)
        shapes[ins.name] = ins.shape
        for kind, names in _CALLEE.findall(ins.rest):
          # A fusion's computation, or a reducer; a `call`'s callee runs as top-level code.
          if kind == "calls" or (kind == "to_apply" and ins.opcode != "call"):
            fusions.update(n.strip(" {}%") for n in names.split(","))
    return cls(computations, entry, shapes, fusions)

  def multipliers(self) -> dict[str, float]:
    """How many times each computation runs per execution of the entry computation."""
    edges: dict[str, list[tuple[str, float]]] = collections.defaultdict(list)  # caller -> [(callee, times)]
    pending: dict[str, int] = collections.defaultdict(int)  # callers not yet added up, per callee
    for name, instructions in self.computations.items():
      for ins in instructions:
        trip = self.trip_count(ins) if ins.opcode == "while" else 1
        for kind, names in _CALLEE.findall(ins.rest):
          for callee in (n.strip(" {}%") for n in names.split(",")):
            if callee in self.computations:
              edges[name].append((callee, trip if kind == "body" else 1))
              pending[callee] += 1
    times: dict[str, float] = collections.defaultdict(float)
    times[self.entry] = 1.0
    ready = [self.entry]
    while ready:  # callers before callees (HLO call graphs are acyclic), so shared callees add up every caller
      name = ready.pop()
      for callee, factor in edges.get(name, []):
        times[callee] += times[name] * factor
        pending[callee] -= 1
        if pending[callee] == 0:
          ready.append(callee)
    return times

  def trip_count(self, loop: _Instruction) -> int:
    """A while loop's trip count: XLA's known_trip_count, else the constant its condition compares against."""
    config = re.search(r"backend_config=(\{.*\})", loop.rest)
    if config:
      try:
        known = json.loads(config.group(1)).get("known_trip_count")
        if known:
          return int(known["n"])
      except (json.JSONDecodeError, KeyError, ValueError):
        pass
    condition = loop.attribute("condition")
    bounds = []
    for ins in self.computations.get((condition or "").lstrip("%"), []):
      if ins.opcode == "constant" and re.fullmatch(r"s(32|64)\[\]", ins.shape.split("{")[0]):
        bounds.append(int(re.match(r"-?\d+", ins.rest).group(0)))
    return max(bounds) if bounds else 1


@dataclasses.dataclass(frozen=True)
class Collective:
  kind: str               # all-gather, reduce-scatter, all-reduce, all-to-all, collective-permute
  axes: tuple[str, ...]   # mesh axes its groups span ('?' where the groups could not be read)
  network: str            # 'ICI' or 'DCN'
  count: float            # executions per step (loop trip counts included)
  bytes: float            # bytes one device sends per step, all executions together


@dataclasses.dataclass(frozen=True)
class CompiledCost:
  """Per device, one train step, from the optimised HLO."""

  flops: float                # dot and convolution FLOPs, loop trip counts included
  bytes_accessed: float
  dot_bytes: float            # the part of bytes_accessed read and written by the matrix-product instructions
  collectives: tuple[Collective, ...]
  xla_flops: float            # compiled.cost_analysis()'s figures: loop bodies counted once
  xla_bytes_accessed: float
  operations: float = 0.0     # top-level instructions executed, loop trip counts included

  def network_bytes(self, network: str) -> float:
    return sum(c.bytes for c in self.collectives if c.network == network)

  def step_cost(self, model_flops: float) -> plan_time.StepCost:
    return plan_time.StepCost(flops=self.flops, bytes_accessed=self.bytes_accessed,
                              ici_bytes=self.network_bytes("ICI"), dcn_bytes=self.network_bytes("DCN"),
                              model_flops=model_flops, dot_bytes=self.dot_bytes)


def replica_groups(ins: _Instruction, num_devices: int) -> list[list[int]]:
  """The device-id groups of a collective, from any of HLO's spellings: explicit ({{0,1},{2,3}}), iota
  ([2,4]<=[8], [4,2]<=[2,4]T(1,0)), mesh axes (mesh['axis_0'=2,'axis_1'=4] {'axis_1'}), or a permute's
  source_target_pairs. Empty groups mean all devices."""
  if ins.opcode.startswith("collective-permute"):
    pairs = re.search(r"source_target_pairs=\{(.*?)\}\}", ins.rest)
    return [[int(x) for x in p.split(",")] for p in re.findall(r"\{(\d+,\d+)", pairs.group(1) + "}")] if pairs else []
  text = ins.rest[ins.rest.find("replica_groups="):] if "replica_groups=" in ins.rest else ""
  text = text[len("replica_groups="):]
  if text.startswith("{"):
    body = text[1:text.index("}}") + 1] if "}}" in text else ""
    groups = [[int(x) for x in g.split(",") if x.strip()] for g in re.findall(r"\{([\d,\s]*)\}", body)]
    return groups or [list(range(num_devices))]
  iota = re.match(r"\[([\d,]+)\]<=\[([\d,]+)\](?:T\(([\d,]+)\))?", text)
  if iota:
    shape = [int(x) for x in iota.group(1).split(",")]
    ids = np.arange(math.prod(int(x) for x in iota.group(2).split(","))).reshape(
        [int(x) for x in iota.group(2).split(",")])
    if iota.group(3):
      ids = ids.transpose([int(x) for x in iota.group(3).split(",")])
    return ids.reshape(shape).tolist()
  mesh = re.match(r"mesh\[([^\]]*)\](?:,\s*device_ids=\(([^)]*\)?)\))?\s*\{([^}]*)\}", text)
  if mesh:
    axes = re.findall(r"'([^']+)'=(\d+)", mesh.group(1))
    names, sizes = [a for a, _ in axes], [int(s) for _, s in axes]
    ids = _device_ids(mesh.group(2), math.prod(sizes)).reshape(sizes)
    chosen = [names.index(a) for a in re.findall(r"'([^']+)'", mesh.group(3))]
    others = [i for i in range(len(names)) if i not in chosen]
    ids = ids.transpose(others + chosen)
    return ids.reshape(-1, math.prod(sizes[i] for i in chosen) if chosen else 1).tolist()
  return []


def _device_ids(text: str | None, count: int) -> np.ndarray:
  """The device ids laid along a mesh's positions: iota ('[2,4]T(1,0)': arange reshaped, transposed, flattened),
  an explicit list, or, when absent, 0..count-1 in order."""
  if not text:
    return np.arange(count)
  iota = re.fullmatch(r"\[([\d,]+)\](?:T\(([\d,]+)\))?", text.strip())
  if iota:
    ids = np.arange(count).reshape([int(x) for x in iota.group(1).split(",")])
    if iota.group(2):
      ids = ids.transpose([int(x) for x in iota.group(2).split(",")])
    return ids.reshape(-1)
  return np.array([int(x) for x in re.findall(r"\d+", text)])


def _sent_bytes(kind: str, operand_bytes: float, n: int) -> float:
  if kind == "collective-permute":
    return operand_bytes
  if n <= 1:
    return 0.0
  if kind == "all-gather":
    return (n - 1) * operand_bytes
  if kind == "all-reduce":
    return plan_time.ring_all_reduce(operand_bytes, n)
  return plan_time.ring_all_gather(operand_bytes, n)  # reduce-scatter, all-to-all


def _hierarchical(kind: str, axes: tuple[str, ...], size: float, n: int, mesh_shape: Mapping[str, int],
                  num_slices: int) -> list[tuple[tuple[str, ...], str, float]]:
  """[(axes, network, bytes sent)] of one collective. Within a slice it is one ring over ICI. A group that spans
  slices (`replica` on a multislice topology) and also axes inside them runs as TPU multislice runs it: the
  ICI part within each slice and only the slice-sized remainder over DCN (an all-reduce: reduce-scatter on ICI,
  all-reduce of the 1/n_ici shard over DCN, all-gather on ICI; an all-gather: DCN first, then ICI on the
  n_dcn-times larger array; a reduce-scatter: ICI first, then DCN on the 1/n_ici part)."""
  if num_slices <= 1 or "replica" not in axes:
    return [(axes, "ICI", _sent_bytes(kind, size, n))]
  inner = tuple(a for a in axes if a != "replica")
  n_dcn = mesh_shape.get("replica", 1)
  n_ici = max(1, n // n_dcn)
  if not inner or n_ici == 1:
    return [(axes, "DCN", _sent_bytes(kind, size, n))]
  if kind == "all-reduce":
    parts = [(inner, "ICI", plan_time.ring_all_reduce(size, n_ici)),
             (("replica",), "DCN", plan_time.ring_all_reduce(size / n_ici, n_dcn))]
  elif kind == "all-gather":
    parts = [(("replica",), "DCN", (n_dcn - 1) * size), (inner, "ICI", (n_ici - 1) * size * n_dcn)]
  elif kind == "reduce-scatter":
    parts = [(inner, "ICI", plan_time.ring_all_gather(size, n_ici)),
             (("replica",), "DCN", plan_time.ring_all_gather(size / n_ici, n_dcn))]
  else:  # all-to-all, collective-permute: no hierarchy to exploit; the DCN hop limits
    return [(axes, "DCN", _sent_bytes(kind, size, n))]
  return parts


def _spanned_axes(groups: Sequence[Sequence[int]], mesh_shape: Sequence[int],
                  axis_names: Sequence[str]) -> tuple[str, ...]:
  group = next((g for g in groups if len(g) > 1), None)
  if group is None:
    return ()
  coords = np.array(np.unravel_index(np.asarray(group), tuple(mesh_shape))).T
  return tuple(name for i, name in enumerate(axis_names) if len(set(coords[:, i])) > 1)


def parse(text: "str | HloModule", mesh_shape: Mapping[str, int], num_slices: int = 1) -> "Counts":
  """Dot FLOPs, bytes accessed (in all, and by the instructions that compute matrix products) and collectives
  of an optimised HLO module (its text, or the text parsed) partitioned over a mesh of `mesh_shape`
  ({'replica': r, 'data': d, 'model': m}, in the order of the program's device assignment)."""
  module = text if isinstance(text, HloModule) else HloModule.parse(text)
  times = module.multipliers()
  names, sizes = list(mesh_shape), [mesh_shape[a] for a in mesh_shape]
  num_devices = math.prod(sizes)
  fused = _fused_flops(module)
  flops = traffic = dot_traffic = operations = 0.0
  found: dict[tuple[str, tuple[str, ...], str], list[float]] = {}
  for computation, instructions in module.computations.items():
    weight = times.get(computation, 0.0)
    if not weight or computation in module.fusions:
      continue
    for ins in instructions:
      if ins.opcode in _FREE or ins.opcode.endswith("-done"):
        continue
      own = _dot_flops(ins, module.shapes) if ins.opcode in ("dot", "convolution") else 0.0
      own += sum(fused.get(c, 0.0) for c in _callees(ins, "calls"))
      operands = [module.shapes.get(o, "") for o in ins.operand_names()]
      moved = weight * _instruction_bytes(ins, operands, module)
      flops += weight * own
      traffic += moved
      operations += weight
      if own:
        dot_traffic += moved
      kind = ins.opcode.removesuffix("-start")
      if kind in COLLECTIVES:
        groups = replica_groups(ins, num_devices)
        n = max((len(g) for g in groups), default=num_devices)
        axes = _spanned_axes(groups, sizes, names) if groups else ("?",)
        size = sum(array_bytes(s) for s in operands)
        for part_axes, network, sent in _hierarchical(kind, axes, size, n, mesh_shape, num_slices):
          entry = found.setdefault((kind, part_axes, network), [0.0, 0.0])
          entry[0] += weight
          entry[1] += weight * sent
  collectives = tuple(Collective(k, a, net, c, b) for (k, a, net), (c, b) in sorted(found.items()))
  return Counts(flops, traffic, dot_traffic, collectives, operations)


@dataclasses.dataclass(frozen=True)
class Counts:
  flops: float
  bytes_accessed: float
  dot_bytes: float  # of those bytes, what the instructions computing matrix products read and write
  collectives: tuple[Collective, ...]
  operations: float = 0.0  # top-level instructions executed (kernels launched), loop trip counts included


def _callees(ins: _Instruction, kind: str) -> list[str]:
  return [n.strip(" {}%") for k, names in _CALLEE.findall(ins.rest) if k == kind for n in names.split(",")]


def _fused_flops(module: HloModule) -> dict[str, float]:
  """Dot FLOPs of each fused computation, nested fusions included."""
  memo: dict[str, float] = {}

  def of(name: str) -> float:
    if name not in memo:
      memo[name] = 0.0  # guards against a malformed cycle
      memo[name] = sum((_dot_flops(i, module.shapes) if i.opcode in ("dot", "convolution") else 0.0)
                       + sum(of(c) for c in _callees(i, "calls")) for i in module.computations.get(name, []))
    return memo[name]

  return {name: of(name) for name in module.fusions}


def _dot_flops(ins: _Instruction, shapes: Mapping[str, str]) -> float:
  operands = ins.operand_names()
  out = math.prod(_dims(ins.shape))
  if ins.opcode == "dot":
    lhs = _dims(shapes.get(operands[0], "")) if operands else []
    contracting = ins.attribute("lhs_contracting_dims") or "{}"
    contracted = math.prod(lhs[int(i)] for i in re.findall(r"\d+", contracting) if int(i) < len(lhs))
    return 2.0 * out * contracted
  kernel = _dims(shapes.get(operands[1], "")) if len(operands) > 1 else []
  # A convolution's kernel holds (spatial..., input features, output features): each output element takes
  # the product of all but the output-feature dimension.
  return 2.0 * out * (math.prod(kernel) / kernel[-1] if kernel else 1)


_SLICING = ("dynamic-slice", "slice", "gather")


def _instruction_bytes(ins: _Instruction, operands: Sequence[str], module: HloModule) -> float:
  """Bytes an instruction reads and writes. A fusion reads of each operand only what it uses when it only
  slices it (a scanned layer's weights out of the stacked array) and writes in place when its result is a
  dynamic-update-slice of an operand (a scanned layer's output into the stacked array), as XLA runs them."""
  sizes = [array_bytes(s) for s in operands]
  out = array_bytes(ins.shape)
  if ins.opcode == "dynamic-update-slice":
    return 2.0 * sum(sizes[1:2])
  if ins.opcode in _SLICING:
    return 2.0 * out
  if ins.opcode != "fusion":
    return out + sum(sizes)
  body = module.computations.get(next(iter(_callees(ins, "calls")), ""), [])
  params = {i.name: int(re.match(r"\d+", i.rest).group(0)) for i in body if i.opcode == "parameter"}
  users: dict[str, list[_Instruction]] = collections.defaultdict(list)
  for i in body:
    for name in set(i.operand_names()):
      users[name].append(i)
  root = next((i for i in body if i.root), None)
  for name, index in params.items():
    uses = users.get(name, [])
    if uses and index < len(sizes) and all(u.opcode in _SLICING and u.operand_names()[:1] == [name] for u in uses):
      sizes[index] = sum(array_bytes(u.shape) for u in uses)
  if root is not None and root.opcode == "dynamic-update-slice":
    buffer, update = (root.operand_names() + ["", ""])[:2]
    if buffer in params and params[buffer] < len(sizes):
      sizes[params[buffer]] = 0  # updated in place: neither read nor written whole
      out = array_bytes(module.shapes.get(update, ""))
  return out + sum(sizes)


def widened_bytes(module: HloModule) -> int:
  """Bytes of the float32 copies of whole bfloat16 arrays that the entry computation makes (a convert, or a fusion
  that is only one). XLA's CPU compiler widens bfloat16 it does not compute in: PaLM 540B's program copies its
  118 layers' saved inputs to float32 before the backward loop, 20.7 GiB per device. A TPU's or GPU's compiler keeps
  them bfloat16, so this part of the CPU program's memory is not the target's."""
  return sum(array_bytes(ins.shape) for ins in module.computations.get(module.entry, []) if _widens(ins, module))


def _widens(ins: _Instruction, module: HloModule) -> bool:
  if not ins.shape.startswith("f32["):
    return False
  if ins.opcode == "convert":
    source = module.shapes.get(next(iter(ins.operand_names()), ""), "")
  elif ins.opcode == "fusion":
    body = module.computations.get((ins.attribute("calls") or "").lstrip("%"), [])
    if sorted(i.opcode for i in body) != ["convert", "parameter"]:
      return False
    source = next(i.shape for i in body if i.opcode == "parameter")
  else:
    return False
  return source.startswith("bf16[") and _dims(source) == _dims(ins.shape)


def cost_of(compiled, mesh, num_slices: int = 1, module: HloModule | None = None) -> CompiledCost:
  """The cost of a compiled program (jax.stages.Compiled) partitioned over `mesh`, whose device order is the
  program's device assignment (jit over NamedShardings of one mesh). `module`: its text already parsed."""
  counts = parse(module if module is not None else compiled.as_text(), dict(mesh.shape), num_slices)
  analysis = compiled.cost_analysis()
  analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
  return CompiledCost(counts.flops, counts.bytes_accessed, counts.dot_bytes, counts.collectives,
                      float(analysis.get("flops", 0.0)), float(analysis.get("bytes accessed", 0.0)),
                      counts.operations)


def compiled_cost(plan, step) -> CompiledCost:
  """The cost of `plan`'s train step as `flanx.plan.compile_train_step(plan)` compiled it (`step`), the same
  compile that gives its memory."""
  return cost_of(step.compiled, step.mesh, plan.topology.num_slices, step.hlo)
