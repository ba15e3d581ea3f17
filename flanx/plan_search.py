"""flanx plan --search: the layouts a run may take on its slice, the ones that fit, and the fastest of them.

A layout is a mesh (replica x data x model over the slice's devices; replica is the number of slices), a rule
preset (flanx/partitioning.py), NUM_MICROBATCHES, a remat policy, scan on or off and the attention block
(ATTENTION_BLOCK_SIZE: 0 attends whole, B > 0 blockwise over key tiles of B). The search

  1. enumerates the layouts flanx train would accept: the model axis only where the rules split something over
     it, every parameter dimension divisible by the mesh axes its rules put it on (jit refuses uneven parameter
     shardings), and the batch split into the data shards and microbatches (plan.make_plan's check, with train's
     line);
  2. keeps those whose memory estimate fits (plan.make_plan), and ranks them by the time model's prediction from
     shapes alone (plan_time.predict of plan_time.analytic_cost);
  3. compiles only the best few (--search_compile) and the run's own layout on simulated devices, drops any whose
     compiled memory does not fit, and ranks those by the prediction from the compiled program
     (plan_cost.compiled_cost); the rest follow by the prediction from shapes.

Rule presets that coincide on a mesh (fsdp is data_parallel when data=1) are tried once, under the first name.
"""

import dataclasses
import shlex
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import gin

from flanx import partitioning, plan, plan_chips, plan_memory, plan_time
from flanx.errors import FlanxError
from flanx.models import blockwise_attention, layers

# 'nothing_saveable' is what 'full' does (nn.remat without a policy saves nothing), so it is not tried twice.
REMAT_CHOICES = tuple(p for p in layers.REMAT_POLICIES if p != "nothing_saveable")
SCAN_CHOICES = (True, False)
# Blockwise attention's key block: tried where it divides every attention's key length (0: whole attention).
BLOCK_CHOICES = (0, 512)
DEFAULT_COMPILE = 3
DEFAULT_SHOW = 5


@dataclasses.dataclass(frozen=True)
class Layout:
  replica: int
  data: int
  model: int
  rules: str
  num_microbatches: int
  remat_policy: str
  scan_layers: bool
  attention_block: int = 0

  @property
  def mesh_shape(self) -> dict[str, int]:
    return {"replica": self.replica, "data": self.data, "model": self.model}

  def describe(self) -> str:
    mesh = ",".join(f"{k}={v}" for k, v in self.mesh_shape.items() if k != "replica" or v > 1)
    return (f"mesh {mesh}, {self.rules}, {self.num_microbatches} microbatch(es), remat {self.remat_policy}, "
            f"scan {'on' if self.scan_layers else 'off'}"
            + (f", attention block {self.attention_block}" if self.attention_block else ""))


def layout_of(inputs: plan.PlanInputs, mesh_shape: Mapping[str, int]) -> Layout:
  """The layout a run's own settings give on a mesh."""
  rules = inputs.partition.rules
  return Layout(mesh_shape["replica"], mesh_shape["data"], mesh_shape["model"],
                rules if isinstance(rules, str) else "(the file's rules)", inputs.num_microbatches,
                inputs.model.config.remat_policy, inputs.model.config.scan_layers,
                inputs.model.config.attention_block_size)


def with_layout(inputs: plan.PlanInputs, layout: Layout) -> plan.PlanInputs:
  """The run's inputs with `layout`'s rules, microbatches, remat, scan and attention block (the mesh goes to
  make_plan)."""
  config = dataclasses.replace(inputs.model.config, remat_policy=layout.remat_policy, scan_layers=layout.scan_layers,
                               attention_block_size=layout.attention_block)
  return dataclasses.replace(inputs, model=dataclasses.replace(inputs.model, config=config),
                             partition=dataclasses.replace(inputs.partition, rules=layout.rules),
                             num_microbatches=layout.num_microbatches)


# --- which layouts are legal -------------------------------------------------------------------------------------

def effective_rules(rules: partitioning.LogicalRules, mesh_shape: Mapping[str, int]) -> partitioning.LogicalRules:
  """The rules that split something on this mesh: an entry over axes of size 1 changes nothing (the batch's
  entry is kept: it is what every preset has)."""
  return tuple((name, axis) for name, axis in rules if name == "batch" or partitioning.split_size(axis, mesh_shape) > 1)


def _divisors(n: int) -> list[int]:
  return [d for d in range(1, n + 1) if n % d == 0]


@dataclasses.dataclass
class Enumeration:
  layouts: list[Layout]
  skipped: Counter  # reason -> count of (mesh, rules) pairs left out before any layout was made from them

  def describe(self) -> str:
    return "; ".join(f"{n} {reason}" for reason, n in self.skipped.items())


def key_lengths(inputs: plan.PlanInputs) -> tuple[int, ...]:
  """The key lengths the model's attentions run over: T5's inputs and targets, PaLM's whole sequence."""
  lengths = inputs.feature_lengths
  if hasattr(inputs.model.config, "num_encoder_layers"):
    return (lengths["inputs"], lengths["targets"])
  return (lengths["inputs"] + lengths["targets"],)


def block_choices(inputs: plan.PlanInputs, blocks: Sequence[int] = BLOCK_CHOICES) -> list[int]:
  """The attention blocks to try: 0 (whole attention) always; a block where some attention would run blockwise
  and none is refused (the model attends whole over keys no longer than the block; a shorter key length must
  divide by it)."""
  lengths = key_lengths(inputs)
  return [b for b in blocks if b == 0 or (any(blockwise_attention.uses_blocks(b, n) for n in lengths)
                                          and all(n <= b or n % b == 0 for n in lengths))]


def enumerate_layouts(inputs: plan.PlanInputs, topology: plan_chips.Topology,
                      remat_policies: Sequence[str] = REMAT_CHOICES,
                      scans: Sequence[bool] = SCAN_CHOICES, blocks: Sequence[int] = BLOCK_CHOICES) -> Enumeration:
  """Every (mesh, rules, microbatches, remat, scan, attention block) the run could take on `topology`, less the
  (mesh, rules) pairs that jit would refuse or that only repeat another pair. The batch split is left to
  plan.make_plan."""
  tried_blocks = block_choices(inputs, blocks)
  abstract = plan_memory.AbstractModel.of(inputs.model, inputs.feature_lengths)
  replica, per_slice = topology.num_slices, topology.devices_per_slice
  skipped: Counter = Counter()
  found = []
  for model in _divisors(per_slice):
    mesh = {"replica": replica, "data": per_slice // model, "model": model}
    seen = set()
    for name, rules in partitioning.RULE_PRESETS.items():
      effective = effective_rules(rules, mesh)
      if model > 1 and not any("model" in partitioning.mesh_axes_of(axis) for _, axis in effective):
        skipped["mesh/rules pairs with a model axis the rules do not use (it would only repeat work)"] += 1
        continue
      if effective in seen:
        skipped["mesh/rules pairs equal to another preset on that mesh"] += 1
        continue
      seen.add(effective)
      if partitioning.uneven_split(abstract.shapes, abstract.logical_specs, rules, mesh):
        skipped["mesh/rules pairs that split a parameter unevenly"] += 1
        continue
      shards = replica * mesh["data"]
      rows = inputs.batch_size // shards if inputs.batch_size % shards == 0 else 1  # make_plan refuses the rest
      for microbatches in _divisors(rows):
        for remat in remat_policies:
          for scan in scans:
            for block in tried_blocks:
              found.append(Layout(replica, mesh["data"], model, name, microbatches, remat, scan, block))
  return Enumeration(found, skipped)


# --- evaluating them ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(eq=False)  # compared by identity: a candidate is one evaluated layout
class Candidate:
  layout: Layout
  plan: plan.Plan
  derived: bool = False  # the memory estimate is the scanned twin's (see plans)
  predicted: object = None  # plan_time.StepTime from shapes alone
  compiled: object = None  # plan_time.StepTime from the compiled program, when it was compiled
  compiled_bytes: int | None = None  # XLA's per-device memory, when compiled

  @property
  def best(self):
    return self.compiled if self.compiled is not None else self.predicted

  @property
  def compiled_fits(self) -> bool:
    return self.compiled_bytes is None or self.compiled_bytes <= self.plan.usable_bytes

  def settle(self, inputs: plan.PlanInputs) -> bool:
    """Replaces a derived estimate by make_plan's own; True if the layout still fits."""
    if self.derived:
      self.plan = plan.make_plan(with_layout(inputs, self.layout), self.plan.topology, self.layout.mesh_shape)
      self.derived = False
    return self.plan.fits


def plans(inputs: plan.PlanInputs, topology: plan_chips.Topology, found: Sequence[Layout]
          ) -> tuple[list[Candidate], Counter]:
  """Each layout's plan (memory estimate on the slice), and what plan.make_plan refused, by its line.

  Tracing an unscanned deep model takes seconds, and scan changes neither the parameters' per-device bytes
  (the stacked `layers` axis is never split) nor the activations the estimate counts; only the Adafactor state
  (factored per layer instead of per stack) differs a little. So an unscanned layout starts with its scanned
  twin's estimate (`derived`), and search settles it with make_plan before it is shown or compiled. The attention
  block changes only the activations, so a blockwise layout takes its whole-attention twin's plan with its own
  activations (exact: not `derived`)."""
  made: dict[Layout, plan.Plan] = {}
  refused: Counter = Counter()
  out = []
  for layout in found:
    twin = dataclasses.replace(layout, scan_layers=True)
    whole = dataclasses.replace(layout, attention_block=0)
    derived = not layout.scan_layers and twin in made
    try:
      if derived:
        result = dataclasses.replace(made[twin], inputs=with_layout(inputs, layout))
      elif layout.attention_block and whole in made:
        result = _with_block(made[whole], with_layout(inputs, layout))
      else:
        result = plan.make_plan(with_layout(inputs, layout), topology, layout.mesh_shape)
    except FlanxError as e:
      refused[_refusal(str(e))] += 1
      continue
    made[layout] = result
    out.append(Candidate(layout, result, derived))
  return out, refused


def _with_block(whole: plan.Plan, inputs: plan.PlanInputs) -> plan.Plan:
  """`whole`'s plan for `inputs`, which differ from its own only in the attention block."""
  split = plan_memory.model_split(inputs.partition.logical_rules(), whole.mesh_shape)
  activations = plan_memory.activation_bytes(inputs.model.config, inputs.feature_lengths, whole.batch_per_device,
                                             split)
  return dataclasses.replace(whole, inputs=inputs, estimate=whole.estimate.with_activations(activations))


def _refusal(line: str) -> str:
  # One bucket per kind of refusal: make_plan's lines name the sizes, which differ from layout to layout.
  return line.split(" is not divisible by ")[0].split("=")[0] + " does not split" if "divisible" in line else line


@dataclasses.dataclass
class Search:
  inputs: plan.PlanInputs
  topology: plan_chips.Topology
  tried: int
  enumeration: Enumeration
  refused: Counter
  fitting: list[Candidate]  # ranked: compiled ones first, by compiled prediction; then the rest by prediction
  too_big: int  # by the estimate
  compiled: list[Candidate]  # those compiled, in compile order (fits or not)
  compile_limit: int
  compile_note: str  # why fewer were compiled than asked, or ''
  current: Candidate | None  # the run file's own layout, when it is legal and was evaluated


def _rank_key(candidate: Candidate):
  layout = candidate.layout
  # Ties (scan off predicts as scan on) go to the layout that compiles faster and needs less memory.
  return (candidate.best.seconds, not layout.scan_layers, layout.num_microbatches, candidate.plan.estimate.total,
          layout.attention_block)


def _key(layout: Layout, rules: partitioning.LogicalRules):
  """What makes two layouts the same program: presets that coincide on the mesh are one layout."""
  remat = "full" if layout.remat_policy == "nothing_saveable" else layout.remat_policy
  return (layout.replica, layout.data, layout.model, effective_rules(rules, layout.mesh_shape),
          layout.num_microbatches, remat, layout.scan_layers, layout.attention_block)


def _current(inputs: plan.PlanInputs, topology: plan_chips.Topology, candidates: Sequence[Candidate],
             predict: Callable) -> Candidate | None:
  """The run's own layout on the slice: the searched candidate it is equivalent to, else planned on its own
  (custom rules, a model axis its rules leave idle); None when flanx train would refuse it."""
  try:
    own = plan.make_plan(inputs, topology)
  except FlanxError:
    return None
  layout = layout_of(inputs, own.mesh_shape)
  key = _key(layout, inputs.partition.logical_rules())
  match = next((c for c in candidates if _key(c.layout, partitioning.RULE_PRESETS[c.layout.rules]) == key), None)
  if match is None:
    match = Candidate(layout, own)
  if match.derived or match.predicted is None:  # predicted even when it does not fit by the estimate
    match.settle(inputs)
    match.predicted = predict(match.plan)
  return match


def _distinct(ranked: Sequence[Candidate], count: int) -> list[Candidate]:
  """The first `count` of `ranked`, less unscanned layouts whose scanned twin is among them with the same
  prediction: compiling both would only show XLA CPU's handling of unscanned remat (docs/tpu.md)."""
  chosen: dict[Layout, Candidate] = {}
  for candidate in ranked:
    if len(chosen) == count:
      break
    twin = chosen.get(dataclasses.replace(candidate.layout, scan_layers=True))
    if not candidate.layout.scan_layers and twin is not None and _same_prediction(twin, candidate):
      continue
    chosen[candidate.layout] = candidate
  return list(chosen.values())


def _settled_top(ranked: list[Candidate], inputs: plan.PlanInputs, predict: Callable, count: int
                 ) -> tuple[list[Candidate], int]:
  """The first `count` of `ranked` that still fit once their estimates are make_plan's own (predicted again
  from the settled plan), and how many settled ones dropped out."""
  top, dropped = [], 0
  for candidate in ranked:
    if len(top) == count:
      break
    derived = candidate.derived
    if candidate.settle(inputs):
      if derived:
        candidate.predicted = predict(candidate.plan)
      top.append(candidate)
    else:
      dropped += 1
  return top, dropped


def search(inputs: plan.PlanInputs, topology: plan_chips.Topology, predict: Callable, compile_cost: Callable | None,
           compile_limit: int = DEFAULT_COMPILE, show: int = DEFAULT_SHOW,
           remat_policies: Sequence[str] = REMAT_CHOICES, scans: Sequence[bool] = SCAN_CHOICES,
           no_compile_reason: str = "no compile function was given", blocks: Sequence[int] = BLOCK_CHOICES
           ) -> Search:
  """Enumerate, estimate, rank by `predict(plan) -> StepTime`, then compile the best `compile_limit` with
  `compile_cost(plan) -> (StepTime, compiled bytes per device)` and re-rank (compile_cost None: nothing is
  compiled, for `no_compile_reason`).
  The first `show` of the result (and all that were compiled) carry make_plan's own estimate."""
  found = enumerate_layouts(inputs, topology, remat_policies, scans, blocks)
  candidates, refused = plans(inputs, topology, found.layouts)
  fitting = [c for c in candidates if c.plan.fits]
  for candidate in fitting:
    candidate.predicted = predict(candidate.plan)
  fitting.sort(key=_rank_key)
  head, dropped = _settled_top(fitting, inputs, predict, max(compile_limit, show))
  fitting = sorted(head, key=_rank_key) + fitting[len(head) + dropped:]
  current = _current(inputs, topology, candidates, predict)
  if current in fitting and not current.plan.fits:  # settled out of the fitting ones
    fitting.remove(current)
  note = ""
  compiled: list[Candidate] = []
  if compile_cost is None:
    note = f"not compiled: {no_compile_reason}; ranked by the prediction from shapes alone"
  else:
    # The run's own layout is compiled too, so that it compares with the best on the same footing.
    best = _distinct(fitting, compile_limit)
    own = [current] if current is not None and current.plan.fits and current not in best else []
    for candidate in best + own:
      candidate.compiled, candidate.compiled_bytes = compile_cost(candidate.plan)
      compiled.append(candidate)
    if len(fitting) > len(best):
      note = (f"{len(fitting)} layouts fit; compiled only the best {len(best)} by the prediction from shapes"
              + (" and the run's own layout" if own else "")
              + " (--search_compile N compiles more; each is a compile of the real train step)")
  survivors = [c for c in compiled if c.compiled_fits]
  # An unscanned twin of a layout that compiled past the chip holds the same arrays: it goes with it.
  over = {dataclasses.replace(c.layout, scan_layers=False) for c in compiled if not c.compiled_fits}
  ranked = sorted(survivors, key=_rank_key) + [c for c in fitting if c.compiled is None and c.layout not in over]
  return Search(inputs, topology, len(found.layouts), found, refused, ranked,
                len(candidates) - len(fitting), compiled, compile_limit, note, current)


# --- the gin line that reproduces a layout -----------------------------------------------------------------------

def _macro_defined(name: str) -> bool:
  try:
    gin.query_parameter(f"%{name}")
  except ValueError:
    return False
  return True


def gin_bindings(inputs: plan.PlanInputs, layout: Layout) -> list[str]:
  """--gin. overrides (without the prefix) that give `layout` to the run `inputs` was loaded from. Uses the
  run's macros where the gin files define them, else the configurables' parameters. Call while that run's gin
  is parsed (plan.load leaves it so)."""
  config_name = type(inputs.model.config).__name__
  mesh = (layout.replica, layout.data, layout.model) if layout.replica > 1 else (layout.data, layout.model)

  def bind(macro: str, parameter: str, value: str) -> str:
    return f"{macro}={value}" if _macro_defined(macro) else f"{parameter}={value}"

  return [bind("MESH_SHAPE", "PartitionConfig.mesh_shape", "(" + ",".join(map(str, mesh)) + ")"),
          bind("PARTITIONING_RULES", "PartitionConfig.rules", f'"{layout.rules}"'),
          bind("NUM_MICROBATCHES", "plan_inputs.num_microbatches", str(layout.num_microbatches)),
          bind("REMAT_POLICY", f"{config_name}.remat_policy", f'"{layout.remat_policy}"'),
          bind("SCAN_LAYERS", f"{config_name}.scan_layers", str(layout.scan_layers)),
          bind("ATTENTION_BLOCK_SIZE", f"{config_name}.attention_block_size", str(layout.attention_block))]


def gin_flags(bindings: Sequence[str]) -> str:
  return " ".join(shlex.quote(f"--gin.{b}") for b in bindings)


# --- report ------------------------------------------------------------------------------------------------------

def _gib(n: float | None) -> str:
  return "-" if n is None else f"{n / 1024**3:.3g}" if n >= 2**30 / 100 else f"{n / 1024**3:.1e}"


def _hours(step_time, train_steps: int | None) -> str:
  if not train_steps:
    return "-"
  hours = plan_time.hours(step_time, train_steps)
  return f"{hours:,.1f}" if hours >= 1 else f"{hours:.2g}"


def _duration(seconds: float) -> str:
  for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
    if seconds >= scale:
      return f"{seconds / scale:.3g} {unit}"
  return f"{seconds / 1e-6:.2g} us"


def _row(rank: str, candidate: Candidate, train_steps: int | None) -> str:
  layout, shapes, compiled = candidate.layout, candidate.predicted, candidate.compiled
  mesh = f"{layout.replica}x{layout.data}x{layout.model}"
  scan = "on" if layout.scan_layers else "off"
  text = (f"  {rank:>4}  {mesh:>9}  {layout.rules:<17} {layout.num_microbatches:>3}  {layout.remat_policy:<32} "
          f"{scan:<4} {layout.attention_block or '-':>5} {_duration(shapes.seconds):>9} {shapes.mfu:>6.1%} "
          f"{_hours(shapes, train_steps):>7}  ")
  if compiled is not None:
    text += f"{_duration(compiled.seconds):>9} {compiled.mfu:>6.1%} {_hours(compiled, train_steps):>7}  "
  else:
    text += f"{'-':>9} {'-':>6} {'-':>7}  "
  return text + f"{_gib(candidate.plan.estimate.total):>6} {_gib(candidate.compiled_bytes):>6}"


def _same_prediction(a: Candidate, b: Candidate) -> bool:
  return (a.compiled is None) == (b.compiled is None) and abs(a.best.seconds - b.best.seconds) <= 1e-3 * a.best.seconds


def report(result: Search, gin_files: Sequence[str], bindings_of: Callable[[Layout], list[str]],
           train_steps: int | None, show: int = DEFAULT_SHOW) -> str:
  topology, inputs = result.topology, result.inputs
  lines = [f"flanx plan --search: {' + '.join(gin_files)} on {topology.name} ({topology.num_devices} devices, "
           f"{topology.chip.name}); batch {inputs.batch_size}, lengths {dict(inputs.feature_lengths)}"
           + (f", {train_steps:,} steps" if train_steps else "")]
  refused = sum(result.refused.values())
  lines.append(f"  {result.tried} layouts tried (mesh x rules x microbatches x remat x scan x attention block); "
               f"{refused} refused as flanx train would; {result.too_big} do not fit by the estimate; "
               f"{len(result.fitting) + len([c for c in result.compiled if not c.compiled_fits])} fit")
  if result.enumeration.skipped:
    lines.append(f"  left out before trying: {result.enumeration.describe()}")
  for reason, n in result.refused.items():
    lines.append(f"  refused ({n}): {reason}")
  dropped = [c for c in result.compiled if not c.compiled_fits]
  for c in dropped:
    lines.append(f"  dropped after compiling: {c.layout.describe()}: {_gib(c.compiled_bytes)} GiB compiled, over "
                 f"the {_gib(c.plan.usable_bytes)} GiB plan line" + (" (and the same layout with scan off)"
                                                                   if c.layout.scan_layers else ""))
  if result.compile_note:
    lines.append(f"  {result.compile_note}")
  if not result.fitting:
    lines.append("no layout fits: use a larger slice or a smaller batch per device")
    return "\n".join(lines)
  survivors = sum(c.compiled is not None for c in result.fitting)
  if survivors:
    lines.append(f"  ranked: the {survivors} compiled that fit by the compiled program's prediction, then the rest "
                 f"by the prediction from shapes")
  lines.append(f"  {'':>4}  {'':>9}  {'':<17} {'':>3}  {'':<32} {'':<4} {'':>5} {'-- predicted from shapes --':>24}  "
               f"{'- from the compiled step -':>25}  {'GiB per device':>13}")
  lines.append(f"  {'rank':>4}  {'r x d x m':>9}  {'rules':<17} {'mb':>3}  {'remat':<32} {'scan':<4} "
               f"{'block':>5} {'step':>9} {'MFU':>6} {'hours':>7}  {'step':>9} {'MFU':>6} {'hours':>7}  {'est.':>6} "
               f"{'XLA':>6}")
  shown: dict[Layout, Candidate] = {}
  for i, candidate in enumerate(result.fitting, 1):
    if len(shown) == show:
      break
    twin = shown.get(dataclasses.replace(candidate.layout, scan_layers=True))
    if not candidate.layout.scan_layers and twin is not None and _same_prediction(twin, candidate):
      lines[-2] += f"  (scan off: the same, rank {i})"
      continue
    shown[candidate.layout] = candidate
    lines.append(_row(str(i), candidate, train_steps))
    lines.append(f"        {gin_flags(bindings_of(candidate.layout))}")
  current = result.current
  if current is None:
    lines.append("  the run's own layout is not among the legal layouts on this slice")
  else:
    rank = next((i for i, c in enumerate(result.fitting, 1) if c is current), None)
    where = f"rank {rank}" if rank else ("does not fit by the estimate" if not current.plan.fits
                                         else "dropped after compiling" if not current.compiled_fits
                                         else "not ranked")
    lines.append(_row("file", current, train_steps) + f"  (the run's own layout: {where})")
  best = result.fitting[0]
  same_footing = current is not None and (current.compiled is None) == (best.compiled is None)
  if current is not None and best is not current and same_footing:
    lines.append(f"fastest: {best.layout.describe()}, {current.best.seconds / best.best.seconds:.2f}x the "
                 f"predicted speed of the run's own layout")
  else:
    lines.append(f"fastest: {best.layout.describe()}")
  lines.append("  (predictions of the time model, not timings: docs/tpu.md)")
  return "\n".join(lines)


# --- the command ---------------------------------------------------------------------------------------------

def analytic_predictor(hardware) -> Callable:
  return lambda p: plan_time.predict(plan_time.analytic_cost(p), hardware)


def compiled_predictor(hardware) -> Callable:
  """plan -> (the prediction from the compiled train step, XLA's memory per device): one compile for both."""
  from flanx import plan_cost

  def compile_cost(p: plan.Plan):
    step = plan.compile_train_step(p)
    memory = plan.compiled_memory(p, step)["target"]  # less the CPU compiler's float32 copies of bfloat16
    flops = plan_time.model_flops(p.inputs.model, p.inputs.feature_lengths, p.inputs.batch_size, p.num_devices)
    cost = plan_cost.compiled_cost(p, step).step_cost(flops)
    return plan_time.predict(cost, hardware), memory
  return compile_cost


def run(inputs: plan.PlanInputs, topology: plan_chips.Topology, gin_files: Sequence[str],
        compile_text: str | None) -> int:
  """flanx plan --search; exit status 0 when some layout fits, 1 when none does."""
  hardware = plan_time.Hardware.of(topology.chip)
  limit = check_compile_count(compile_text) if compile_text is not None else DEFAULT_COMPILE
  can_compile = topology.num_devices <= plan.MAX_SIMULATED_DEVICES
  result = search(inputs, topology, analytic_predictor(hardware),
                  compiled_predictor(hardware) if can_compile else None, limit,
                  no_compile_reason=f"{topology.name} has {topology.num_devices} devices, more than the "
                                    f"{plan.MAX_SIMULATED_DEVICES} that --compile simulates")
  print(report(result, gin_files, lambda layout: gin_bindings(inputs, layout), inputs.train_steps), flush=True)
  return 0 if result.fitting else 1


def check_flags(args) -> None:
  """The flags --search cannot take with it, and --search_compile's value; one line each."""
  if not args.search:
    raise FlanxError("--search_compile needs --search (it is how many of the searched layouts to compile)")
  if args.mesh is not None:
    raise FlanxError(f"--search tries every mesh of the slice itself; drop --mesh {args.mesh} (or drop --search "
                     f"to plan that mesh)")
  if args.compile:
    raise FlanxError("--search compiles the best layouts itself; drop --compile and use --search_compile K")
  if args.search_compile is not None:
    check_compile_count(args.search_compile)


def check_compile_count(text: str) -> int:
  """--search_compile N: how many of the best layouts to compile (at least 1)."""
  try:
    value = int(text)
  except ValueError:
    raise FlanxError(f"--search_compile {text!r} must be a whole number of layouts to compile (e.g. 3)") from None
  if value < 1:
    raise FlanxError(f"--search_compile {value} must be at least 1 (the best layouts by prediction are compiled)")
  return value
