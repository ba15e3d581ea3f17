"""flanx plan --search: exactly the legal layouts are tried, what does not fit is dropped, the fastest is what the
time model predicts, only the best few are compiled, and the printed --gin. line reproduces a layout."""

import dataclasses
import shlex

import pytest

from flanx import cli, gin_config, partitioning, plan, plan_chips, plan_memory, plan_search

TINY = ["runs/demo.gin"]
V4_16 = plan_chips.parse_topology("v4-16")  # 8 devices: the test process's simulated CPU devices


def _tiny(*bindings: str) -> plan.PlanInputs:
  return plan.load(TINY, ["BATCH_SIZE=8", *bindings])


def test_enumeration_is_exactly_the_legal_set_on_a_small_slice():
  # The tiny T5: 4 heads, d_model 64, d_ff 128, 384 embeddings; 8 rows over v4-16's 8 devices.
  found = plan_search.enumerate_layouts(_tiny(), V4_16)
  by_hand = {  # (data, model) -> rule presets that differ on that mesh and use every axis it has
      (8, 1): ("data_parallel", "fsdp"),  # model_parallel is data_parallel at model=1, 2-D is fsdp
      (4, 2): ("model_parallel", "model_parallel_2d"),  # data_parallel and fsdp would leave `model` idle
      (2, 4): ("model_parallel", "model_parallel_2d"),
      # (1, 8): 4 heads do not split 8 ways, and 2-D is model_parallel at data=1
  }
  expected = {plan_search.Layout(1, data, model, rules, microbatches, remat, scan)
              for (data, model), presets in by_hand.items() for rules in presets
              for microbatches in range(1, 8 // data + 1) if (8 // data) % microbatches == 0
              for remat in ("none", "full", "dots_saveable", "dots_with_no_batch_dims_saveable")
              for scan in (True, False)}
  assert len(found.layouts) == len(set(found.layouts)) == len(expected) == 96
  assert set(found.layouts) == expected
  assert sorted(found.skipped.values()) == [1, 3, 6]  # uneven split; same as another preset; idle model axis


def test_an_uneven_parameter_split_is_named():
  inputs = _tiny()
  abstract = plan_memory.AbstractModel.of(inputs.model, inputs.feature_lengths)
  rules = inputs.partition.logical_rules()  # model_parallel
  line = partitioning.uneven_split(abstract.shapes, abstract.logical_specs, rules,
                                   {"replica": 1, "data": 1, "model": 8})
  assert line.startswith("parameter decoder/") and "attention/" in line, line
  assert "has a dimension of 4 (dimension 1, 'heads'), not divisible by model=8 on the mesh replica=1, data=1, " \
         "model=8; change MESH_SHAPE / NUM_PARTITIONS / PARTITIONING_RULES" in line
  assert partitioning.uneven_split(abstract.shapes, abstract.logical_specs, rules,
                                   {"replica": 1, "data": 2, "model": 4}) is None
  # An axis split over two mesh axes is named by both and their product: fsdp's `embed` (64) over data x model=3.
  two_axes = (("batch", ("replica", "data")), ("embed", ("data", "model")))
  line = partitioning.uneven_split(abstract.shapes, abstract.logical_specs, two_axes,
                                   {"replica": 1, "data": 1, "model": 3})
  assert "has a dimension of 64 (dimension 0, 'embed'), not divisible by data=1 x model=3 on the mesh" in line


def test_layouts_whose_batch_does_not_split_are_refused_with_trains_line():
  found = plan_search.enumerate_layouts(_tiny("BATCH_SIZE=4"), V4_16, ("full",), (True,))
  candidates, refused = plan_search.plans(_tiny("BATCH_SIZE=4"), V4_16, found.layouts)
  assert dict(refused) == {"BATCH_SIZE does not split": 2}  # data=8: 4 rows over 8 shards, both presets
  assert {c.layout.data for c in candidates} == {4, 2}


def test_an_unscanned_layout_is_settled_to_the_estimate_make_plan_gives_it():
  inputs = _tiny()
  layouts = [plan_search.Layout(1, 2, 4, "model_parallel_2d", 2, "dots_saveable", scan) for scan in (True, False)]
  (scanned, unscanned), _ = plan_search.plans(inputs, V4_16, layouts)
  assert (scanned.derived, unscanned.derived) == (False, True)
  assert unscanned.plan.inputs.model.config.scan_layers is False
  direct = plan.make_plan(plan_search.with_layout(inputs, layouts[1]), V4_16, layouts[1].mesh_shape)
  # Borrowed from the scanned twin: all but the Adafactor state (factored per layer when unscanned).
  for name in ("parameters", "gradients", "activations"):
    assert getattr(unscanned.plan.estimate, name) == getattr(direct.estimate, name)
  assert unscanned.settle(inputs) and not unscanned.derived
  assert unscanned.plan.estimate == direct.estimate


def test_the_printed_gin_line_reproduces_the_layout_through_plan_load():
  inputs = _tiny()
  layout = plan_search.Layout(1, 2, 4, "model_parallel_2d", 2, "dots_with_no_batch_dims_saveable", False, 16)
  line = plan_search.gin_flags(plan_search.gin_bindings(inputs, layout))
  assert "--gin.ATTENTION_BLOCK_SIZE=16" in line
  files, bindings, rest = gin_config.split_args(["--gin_file=runs/demo.gin", *shlex.split(line)])
  assert rest == []
  again = plan.load(files, ["BATCH_SIZE=8", *bindings])
  result = plan.make_plan(again, V4_16)  # the mesh now comes from the gin line, not an argument
  assert plan_search.layout_of(again, result.mesh_shape) == layout
  expected = plan.make_plan(plan_search.with_layout(inputs, layout), V4_16, layout.mesh_shape)
  assert result.estimate == expected.estimate


def test_the_attention_block_is_tried_where_it_tiles_some_attention_and_divides_the_rest():
  assert plan_search.block_choices(plan.load(["runs/flan_t5_small.gin"], [])) == [0, 512]  # 2048 tiled, 512 whole
  assert plan_search.block_choices(plan.load(["runs/flan_palm_8b.gin"], [])) == [0, 512]  # 2560 keys
  assert plan_search.block_choices(_tiny()) == [0]  # 32 and 16 keys: 512 would be whole attention
  assert plan_search.block_choices(_tiny(), (0, 16, 12)) == [0, 16]  # 12 divides neither 32 nor 16
  # A blockwise layout takes its whole-attention twin's plan with its own activations: exactly make_plan's.
  inputs = _tiny()
  found = plan_search.enumerate_layouts(inputs, V4_16, ("none",), (True,), (0, 16))
  assert sum(layout.attention_block == 16 for layout in found.layouts) == len(found.layouts) // 2
  candidates, _ = plan_search.plans(inputs, V4_16, found.layouts)
  checked = [c for c in candidates if c.layout.attention_block and c.layout.num_microbatches == 1
             and c.layout.rules in ("fsdp", "model_parallel_2d")]  # one per mesh
  assert len(checked) == 3
  for candidate in checked:
    direct = plan.make_plan(plan_search.with_layout(inputs, candidate.layout), V4_16, candidate.layout.mesh_shape)
    assert candidate.plan.estimate == direct.estimate
    assert candidate.plan.inputs.model.config.attention_block_size == candidate.layout.attention_block
  whole, tiled = (next(c for c in candidates if c.layout.attention_block == b and c.layout.data == 8) for b in (0, 16))
  assert tiled.plan.estimate.activations < whole.plan.estimate.activations


def test_a_multislice_gin_line_keeps_the_replica_axis():
  inputs = plan.load(["runs/flan_t5_small.gin"], [])
  layout = plan_search.Layout(2, 4, 1, "fsdp", 1, "full", True)
  bindings = plan_search.gin_bindings(inputs, layout)
  assert bindings[0] == "MESH_SHAPE=(2,4,1)" and 'PARTITIONING_RULES="fsdp"' in bindings
  again = plan.load(["runs/flan_t5_small.gin"], bindings)
  assert plan.make_plan(again, plan_chips.parse_topology("2xv4-8")).mesh_shape == layout.mesh_shape


@pytest.mark.parametrize("argv,message", [
    (["--search", "--mesh", "data=8"], "--search tries every mesh of the slice itself; drop --mesh data=8"),
    (["--search", "--compile"], "--search compiles the best layouts itself; drop --compile"),
    (["--search_compile", "2"], "--search_compile needs --search"),
    (["--search", "--search_compile", "0"], "--search_compile 0 must be at least 1"),
    (["--search", "--search_compile=-1"], "--search_compile -1 must be at least 1"),
    (["--search", "--search_compile", "abc"], "--search_compile 'abc' must be a whole number"),
    (["--search", "--search_compile"], "expected one argument"),
])
def test_search_flag_errors_are_one_line(argv, message, capsys):
  assert cli.main(["plan", "--gin_file=runs/demo.gin", "--topology=v4-16", *argv]) == 2
  err = capsys.readouterr().err.strip()
  assert message in err and len(err.splitlines()) == 1, err


def test_the_runs_own_layout_is_found_under_an_equivalent_name():
  # data_parallel is what model_parallel is at model=1, and nothing_saveable what full is: the same program.
  inputs = _tiny("PARTITIONING_RULES='model_parallel'", "REMAT_POLICY='nothing_saveable'", "SCAN_LAYERS=True")
  result = plan_search.search(inputs, V4_16, _analytic(), None, remat_policies=("full",), scans=(True,))
  assert result.current.layout == plan_search.Layout(1, 8, 1, "data_parallel", 1, "full", True)
  assert result.current in result.fitting


def test_layout_of_reads_the_run_files_settings():
  inputs = plan.load(["runs/flan_t5_xxl.gin"], [])
  layout = plan_search.layout_of(inputs, {"replica": 1, "data": 8, "model": 4})
  assert layout == plan_search.Layout(1, 8, 4, "model_parallel_2d", 2, "full", True)
  assert dataclasses.replace(layout, scan_layers=False).describe().endswith("scan off")


def _analytic():
  from flanx import plan_time
  return plan_search.analytic_predictor(plan_time.Hardware.of(V4_16.chip))


def test_the_fastest_layout_is_the_one_the_time_model_predicts():
  inputs, predict = _tiny(), _analytic()
  result = plan_search.search(inputs, V4_16, predict, None, remat_policies=("full",), scans=(True,))
  assert "not compiled" in result.compile_note
  found = plan_search.enumerate_layouts(inputs, V4_16, ("full",), (True,)).layouts
  times = {layout: predict(plan.make_plan(plan_search.with_layout(inputs, layout), V4_16, layout.mesh_shape)).seconds
           for layout in found}
  assert len(result.fitting) == len(found) == 12  # the tiny model fits every layout
  assert result.fitting[0].layout in [k for k, v in times.items() if v == min(times.values())]
  seconds = [c.predicted.seconds for c in result.fitting]
  assert seconds == sorted(seconds) and seconds[0] < seconds[-1]


def test_only_the_best_few_are_compiled_and_a_compile_that_does_not_fit_is_dropped():
  inputs, predict = _tiny("SCAN_LAYERS=True", "REMAT_POLICY='full'", "PARTITIONING_RULES='fsdp'"), _analytic()
  compiled = []

  def compile_cost(p):  # the shapes' prediction, doubled; the second layout compiles past the chip
    compiled.append(p)
    return dataclasses.replace(predict(p), seconds=2 * predict(p).seconds), (
        p.usable_bytes + 1 if len(compiled) == 2 else 1000)

  result = plan_search.search(inputs, V4_16, predict, compile_cost, compile_limit=2, remat_policies=("full",))
  own = result.current
  assert own.layout == plan_search.Layout(1, 8, 1, "fsdp", 1, "full", True) and own in result.compiled
  best_two = result.compiled[:2]
  assert [c.plan for c in result.compiled] == compiled
  assert len(compiled) == (2 if own in best_two else 3)  # the best 2 by shapes, and the run's own
  dropped = result.compiled[1]
  assert dropped not in result.fitting and not dropped.compiled_fits
  assert dropped.layout.scan_layers  # unscanned twins take no compile slot ...
  assert dataclasses.replace(dropped.layout, scan_layers=False) not in [c.layout for c in result.fitting]  # nor stay
  rest = [c for c in result.fitting if c.compiled is None]
  assert all(best_two[0].predicted.seconds <= c.predicted.seconds for c in rest)  # the best by shapes compiled
  assert "compiled only the best 2" in result.compile_note
  assert result.fitting[0].compiled is not None  # compiled ones first, then the rest by shapes
  text = plan_search.report(result, TINY, lambda layout: plan_search.gin_bindings(inputs, layout), 600)
  assert "dropped after compiling: mesh" in text and "(the run's own layout: " in text


@pytest.fixture(scope="module")
def compiled_search():
  from flanx import plan_time
  hardware = plan_time.Hardware.of(V4_16.chip)
  predict, choices = plan_search.analytic_predictor(hardware), {"remat_policies": ("none",), "scans": (True,)}
  # The run's own layout set to the best by shapes (found without compiling), so one compile serves both.
  best = plan_search.search(_tiny(), V4_16, predict, None, **choices).fitting[0].layout
  inputs = _tiny(*plan_search.gin_bindings(_tiny(), best))
  result = plan_search.search(inputs, V4_16, predict, plan_search.compiled_predictor(hardware), compile_limit=1,
                              **choices)
  return inputs, result, plan_search.report(result, TINY, lambda lay: plan_search.gin_bindings(inputs, lay), 600)


def test_the_best_by_shapes_is_compiled_and_ranked_by_its_compiled_prediction(compiled_search):
  inputs, result, text = compiled_search
  best = result.compiled[0]
  assert best.compiled.seconds > 0 and best.compiled_bytes > 0 and best.compiled_fits
  assert result.fitting[0].compiled is not None
  assert [c for c in result.fitting if c.compiled is not None] == sorted(
      [c for c in result.compiled if c.compiled_fits], key=lambda c: c.compiled.seconds)
  assert "compiled only the best 1" in text and "predicted from" in text and "not timings" in text
  assert len(result.compiled) == 1 and result.current is best  # the run's own layout was not compiled twice


def test_the_report_prints_a_gin_line_that_plan_load_reproduces(compiled_search):
  inputs, result, text = compiled_search
  lines = text.splitlines()
  first = next(i for i, line in enumerate(lines) if line.strip().startswith("1 "))
  gin_line = lines[first + 1].strip()
  assert gin_line.startswith("'--gin.PartitionConfig.mesh_shape=")  # demo.gin has no MESH_SHAPE macro
  files, bindings, _ = gin_config.split_args(["--gin_file=runs/demo.gin", *shlex.split(gin_line)])
  again = plan.load(files, ["BATCH_SIZE=8", *bindings])
  assert plan_search.layout_of(again, plan.make_plan(again, V4_16).mesh_shape) == result.fitting[0].layout


def test_a_chip_without_performance_figures_is_one_line():
  from flanx.errors import FlanxError
  bare = dataclasses.replace(V4_16, chip=plan_chips.Chip("v9", 2**30, "devices"))
  with pytest.raises(FlanxError, match="chip 'v9' has no performance figures"):
    plan_search.run(_tiny(), bare, TINY, None)


@pytest.mark.parametrize("run", ["flan_t5_small", "flan_t5_base", "flan_t5_large", "flan_t5_xl", "flan_t5_xxl",
                                 "flan_palm_8b", "flan_palm_62b", "flan_palm_540b"])
def test_every_paper_run_uses_a_layout_the_search_tries(run):
  # The run files' layouts were chosen with --search (docs/tpu.md, "Choosing the layout"); a change to the
  # enumeration that left one out would make the search unable to confirm it.
  inputs = plan.load([f"runs/{run}.gin"], [])
  topology = plan_chips.parse_topology(inputs.partition.topology)
  own = plan.make_plan(inputs, topology)
  assert plan_search.layout_of(inputs, own.mesh_shape) in plan_search.enumerate_layouts(inputs, topology).layouts
