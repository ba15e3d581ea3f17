"""flanx plan's cost and time model: HLO collectives parsed and attributed to mesh axes and ICI/DCN, loop trip
counts, compiled FLOPs against the analytic model FLOPs x the remat factor, predict()'s arithmetic.

The compiled cases are the tiny T5 of runs/demo.gin on the 8 simulated devices of tests/conftest.py; each is
compiled once per module.
"""

import functools
import re

import pytest

from flanx import plan, plan_chips, plan_cost, plan_time
from flanx.errors import FlanxError

# Two loops: an outer one with XLA's known trip count (3) around an inner one whose bound is only in its
# condition (4). The mesh is replica=2, data=2, model=2 (device id = 4 r + 2 d + m).
HLO = """HloModule test, num_partitions=8

%add (a: f32[], b: f32[]) -> f32[] {
  %a = f32[] parameter(0)
  %b = f32[] parameter(1)
  ROOT %sum = f32[] add(%a, %b)
}

%fused_dot (p0: f32[8,16], p1: f32[16,4]) -> f32[8,4] {
  %p0 = f32[8,16] parameter(0)
  %p1 = f32[16,4] parameter(1)
  ROOT %dot.1 = f32[8,4] dot(%p0, %p1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}

%icond (c: (s32[], f32[8,16])) -> pred[] {
  %c = (s32[], f32[8,16]) parameter(0)
  %i = s32[] get-tuple-element(%c), index=0
  %bound = s32[] constant(4)
  ROOT %lt = pred[] compare(%i, %bound), direction=LT
}

%ibody (s: (s32[], f32[8,16])) -> (s32[], f32[8,16]) {
  %s = (s32[], f32[8,16]) parameter(0)
  %j = s32[] get-tuple-element(%s), index=0
  %x = f32[8,16] get-tuple-element(%s), index=1
  %perm = f32[8,16] collective-permute(%x), source_target_pairs={{0,4},{4,0},{1,5},{5,1}}
  ROOT %t = (s32[], f32[8,16]) tuple(%j, %perm)
}

%ocond (c: (s32[], f32[8,16])) -> pred[] {
  %c = (s32[], f32[8,16]) parameter(0)
  %i = s32[] get-tuple-element(%c), index=0
  %bound = s32[] constant(3)
  ROOT %lt = pred[] compare(%i, %bound), direction=LT
}

%obody (s: (s32[], f32[8,16])) -> (s32[], f32[8,16]) {
  %s = (s32[], f32[8,16]) parameter(0)
  %j = s32[] get-tuple-element(%s), index=0
  %x = f32[8,16] get-tuple-element(%s), index=1
  %w = f32[16,4] constant({...})
  %y = f32[8,4] fusion(%x, %w), kind=kOutput, calls=%fused_dot
  %ar = f32[8,16] all-reduce(%x), replica_groups=[4,2]<=[8], to_apply=%add
  %ags = (f32[8,16], f32[8,32]) all-gather-start(%ar), replica_groups=mesh['axis_0'=2,'axis_1'=2,'axis_2'=2] {'axis_1'}
  %agd = f32[8,32] all-gather-done(%ags)
  %inner = (s32[], f32[8,16]) while(%s), condition=%icond, body=%ibody
  ROOT %t = (s32[], f32[8,16]) tuple(%j, %ar)
}

ENTRY %main (arg: f32[8,16]) -> f32[8,16] {
  %arg = f32[8,16] parameter(0)
  %zero = s32[] constant(0)
  %init = (s32[], f32[8,16]) tuple(%zero, %arg)
  %loop = (s32[], f32[8,16]) while(%init), condition=%ocond, body=%obody, backend_config={"known_trip_count":{"n":"3"}}
  %out = f32[8,16] get-tuple-element(%loop), index=1
  %rs = f32[4,16] reduce-scatter(%out), replica_groups=mesh['a'=2,'b'=4], device_ids=([4,2]T(1,0)) {'a'}, to_apply=%add
  ROOT %grad = f32[8,16] all-reduce(%out), replica_groups={{0,1,2,3,4,5,6,7}}, to_apply=%add
}
"""
MESH = {"replica": 2, "data": 2, "model": 2}
ARRAY = 8 * 16 * 4  # bytes of an f32[8,16]


def _by_kind(collectives, kind):
  return {(c.axes, c.network): c for c in collectives if c.kind == kind}


def test_hand_written_hlo_flops_and_trip_counts():
  module = plan_cost.HloModule.parse(HLO)
  times = module.multipliers()
  assert times["obody"] == 3 and times["ibody"] == 12 and times["fused_dot"] == 3
  counts = plan_cost.parse(HLO, MESH)
  assert counts.flops == 3 * 2 * 8 * 4 * 16  # the dot inside a fusion, in a loop of 3
  # The fusion computing it reads x (f32[8,16]) and w (f32[16,4]) and writes f32[8,4], three times.
  assert counts.dot_bytes == 3 * 4 * (8 * 16 + 16 * 4 + 8 * 4)
  assert counts.bytes_accessed > counts.dot_bytes


def test_hand_written_hlo_collectives_on_one_slice():
  collectives = plan_cost.parse(HLO, MESH, num_slices=1).collectives
  # [4,2]<=[8]: groups {0,1}, {2,3}, ...: device ids differing in the last coordinate, `model`.
  all_reduce = _by_kind(collectives, "all-reduce")
  assert all_reduce[(("model",), "ICI")].count == 3
  assert all_reduce[(("model",), "ICI")].bytes == 3 * 2 * (2 - 1) / 2 * ARRAY
  # The whole mesh in one group, on one slice: a single ring of 8 over ICI.
  assert all_reduce[(("replica", "data", "model"), "ICI")].bytes == 2 * 7 / 8 * ARRAY
  # Async: counted once, at -start, over mesh axis_1 = `data`; sends its operand to the other member.
  gather = _by_kind(collectives, "all-gather")
  assert list(gather) == [(("data",), "ICI")] and gather[(("data",), "ICI")].bytes == 3 * ARRAY
  # The device list [4,2]T(1,0) = 0,2,4,6,1,3,5,7 laid on a (2, 4) mesh, reduced over its first axis: the
  # groups are {0,1}, {2,3}, ...: `model`; sends (n-1)/n of its operand.
  scatter = _by_kind(collectives, "reduce-scatter")
  assert list(scatter) == [(("model",), "ICI")] and scatter[(("model",), "ICI")].bytes == ARRAY / 2
  permute = _by_kind(collectives, "collective-permute")
  assert permute[(("replica",), "ICI")].count == 12 and permute[(("replica",), "ICI")].bytes == 12 * ARRAY


def test_hand_written_hlo_collectives_across_slices():
  collectives = plan_cost.parse(HLO, MESH, num_slices=2).collectives
  all_reduce = _by_kind(collectives, "all-reduce")
  # The all-device reduction runs hierarchically: a ring of 4 within each slice over ICI, and the quarter each
  # device then holds over DCN.
  assert all_reduce[(("data", "model"), "ICI")].bytes == 2 * 3 / 4 * ARRAY
  assert all_reduce[(("replica",), "DCN")].bytes == 2 * 1 / 2 * ARRAY / 4
  assert all_reduce[(("model",), "ICI")].count == 3  # inside a slice: unchanged
  assert _by_kind(collectives, "collective-permute")[(("replica",), "DCN")].bytes == 12 * ARRAY


@pytest.mark.parametrize("text,groups", [
    ("replica_groups={{0,2},{1,3}}, x", [[0, 2], [1, 3]]),
    ("replica_groups={}, x", [[0, 1, 2, 3]]),
    ("replica_groups=[2,2]<=[2,2]T(1,0), x", [[0, 2], [1, 3]]),
    ("replica_groups=mesh['a'=2,'b'=2] {'a'}, x", [[0, 2], [1, 3]]),
    ("replica_groups=mesh['a'=2,'b'=2], device_ids=([2,2]T(1,0)) {'a'}, x", [[0, 1], [2, 3]]),
])
def test_replica_group_spellings(text, groups):
  ins = plan_cost._Instruction("x", "f32[4]", "all-reduce", f"%y), {text}", "main")
  assert plan_cost.replica_groups(ins, 4) == groups


WIDENING_HLO = """HloModule widening

%wrapped (p: bf16[118,4,8]) -> f32[118,4,8] {
  %p = bf16[118,4,8] parameter(0)
  ROOT %c = f32[118,4,8] convert(%p)
}

%scaled (p: bf16[4,8]) -> f32[4,8] {
  %p = bf16[4,8] parameter(0)
  %c = f32[4,8] convert(%p)
  ROOT %m = f32[4,8] multiply(%c, %c)
}

ENTRY %main (stack: bf16[118,4,8], x: bf16[4,8], n: s32[4,8]) -> f32[4,8] {
  %stack = bf16[118,4,8] parameter(0)
  %x = bf16[4,8] parameter(1)
  %n = s32[4,8] parameter(2)
  %wide_stack = f32[118,4,8] fusion(%stack), kind=kLoop, calls=%wrapped
  %wide_x = f32[4,8] convert(%x)
  %squared = f32[4,8] fusion(%x), kind=kLoop, calls=%scaled
  ROOT %from_int = f32[4,8] convert(%n)
}
"""


def test_float32_copies_of_bfloat16_arrays_are_counted():
  """A convert of a whole bfloat16 array, or a fusion that is only that, counts; a fusion that computes with the
  widened values, and a convert from integers, do not."""
  module = plan_cost.HloModule.parse(WIDENING_HLO)
  assert plan_cost.widened_bytes(module) == 4 * (118 * 4 * 8 + 4 * 8)


def test_predict_arithmetic():
  hardware = plan_time.Hardware("test", peak_flops=100.0, hbm_bytes_per_s=10.0, ici_bytes_per_s=5.0,
                                dcn_bytes_per_s=1.0)
  # Matrix products: 400 FLOPs (4 s) over 20 bytes (2 s): 4 s; the other 30 bytes: 3 s; ICI 2 s hidden; DCN 3 s.
  cost = plan_time.StepCost(flops=400.0, bytes_accessed=50.0, ici_bytes=10.0, dcn_bytes=3.0, model_flops=300.0,
                            dot_bytes=20.0)
  t = plan_time.predict(cost, hardware)
  assert (t.compute_s, t.memory_s, t.ici_s, t.dcn_s) == (4.0, 3.0, 2.0, 3.0)
  assert t.seconds == 4.0 + 3.0 + 3.0 and t.bound == "compute" and t.exposed_ici_s == 0.0
  assert t.mfu == pytest.approx(300.0 / (10.0 * 100.0))
  assert cost.remat_factor == pytest.approx(4 / 3)
  # Products starved by memory: their bytes set their time.
  starved = plan_time.predict(plan_time.StepCost(100.0, 80.0, 0.0, 0.0, 100.0, dot_bytes=80.0), hardware)
  assert (starved.compute_s, starved.memory_s, starved.seconds, starved.bound) == (8.0, 0.0, 8.0, "compute")
  # Collectives longer than the work: the step waits on ICI.
  ici_bound = plan_time.predict(plan_time.StepCost(100.0, 10.0, 50.0, 0.0, 100.0), hardware)
  assert ici_bound.seconds == 10.0 and ici_bound.bound == "ICI" and ici_bound.exposed_ici_s == 10.0 - 1.0 - 1.0


def test_a_chip_without_performance_figures_is_one_line():
  chip = plan_chips.Chip("mystery", 16 * 2**30, "devices")
  with pytest.raises(FlanxError, match="chip 'mystery' has no performance figures") as e:
    plan_time.Hardware.of(chip)
  assert len(str(e.value).splitlines()) == 1
  assert all(c.has_speed for c in plan_chips.CHIPS.values())


# --- compiled on 8 simulated devices ---------------------------------------------------------------------------

@functools.cache
def _compiled(topology: str, mesh: str, *bindings: str):
  p = plan.make_plan(plan.load(["runs/demo.gin"], list(bindings)), plan_chips.parse_topology(topology),
                     plan.parse_mesh(mesh))
  step = plan.compile_train_step(p)
  return p, step, plan_cost.compiled_cost(p, step)


SCANNED = ("SCAN_LAYERS=True",)


@pytest.mark.parametrize("bindings", [SCANNED, (*SCANNED, "REMAT_POLICY='full'", "NUM_MICROBATCHES=2")])
def test_compiled_flops_equal_model_flops_times_the_remat_factor(bindings):
  p, _, cost = _compiled("v4-16", "data=8", *bindings)
  analytic = plan_time.analytic_cost(p)
  factor = plan_time.remat_factor(p.inputs.model, p.inputs.feature_lengths)
  assert factor == (1.0 if len(bindings) == 1 else pytest.approx(1.263, abs=0.01))
  # Dot FLOPs counted through the layer scan and the microbatch loop: the model's matrix products (attention
  # scores included: flops_per_example counts them) times what remat recomputes.
  assert cost.flops == pytest.approx(analytic.model_flops * factor, rel=0.05)
  assert cost.flops == pytest.approx(analytic.flops, rel=0.05)
  # XLA's own figure counts each loop body once: well short of the real count.
  assert cost.xla_flops < 0.8 * cost.flops


def test_blockwise_attention_runs_the_query_key_products_once_more_backward():
  # Tiles of 8 keys: the encoder's 32 keys, the decoder's 16 and the cross-attention's 32 are all tiled.
  p, _, whole = _compiled("v4-16", "data=8", *SCANNED)
  tiled_plan, _, tiled = _compiled("v4-16", "data=8", *SCANNED, "ATTENTION_BLOCK_SIZE=8")
  analytic = plan_time.analytic_cost(tiled_plan)
  factor = plan_time.remat_factor(tiled_plan.inputs.model, tiled_plan.inputs.feature_lengths)
  assert factor == pytest.approx(1.0137, abs=1e-4)
  assert tiled.flops == pytest.approx(analytic.model_flops * factor, rel=0.05)
  assert tiled.flops == pytest.approx(analytic.flops, rel=0.05)
  # The recomputed products themselves, against the whole-attention program of the same shapes.
  assert tiled.flops - whole.flops == pytest.approx((factor - 1) * analytic.model_flops, rel=0.05)
  assert plan_time.analytic_cost(p).bytes_accessed == analytic.bytes_accessed  # the tiles' traffic stays


def test_scan_on_and_off_give_the_same_totals():
  _, _, scanned = _compiled("v4-16", "data=8", *SCANNED)
  _, _, unrolled = _compiled("v4-16", "data=8", "SCAN_LAYERS=False")
  assert scanned.flops == pytest.approx(unrolled.flops, rel=1e-3)
  assert scanned.network_bytes("ICI") == pytest.approx(unrolled.network_bytes("ICI"), rel=0.01)
  assert [c.axes for c in scanned.collectives] == [("data",)] == [c.axes for c in unrolled.collectives]


def test_data_parallel_gradient_reduction_matches_the_estimate():
  p, _, cost = _compiled("v4-16", "data=8", *SCANNED)
  analytic = plan_time.analytic_cost(p)
  # The gradients' all-reduce over `data`: one parameter-sized ring. XLA also reduces the shared embedding's
  # two lookups separately and the relative-position bias before its bucket sum, hence not exact.
  assert cost.network_bytes("ICI") == pytest.approx(analytic.ici_bytes, rel=0.25)
  assert cost.network_bytes("DCN") == analytic.dcn_bytes == 0
  # Memory traffic: the estimate's constants are fitted to XLA's CPU programs (docs/tpu.md).
  assert analytic.bytes_accessed == pytest.approx(cost.bytes_accessed, rel=0.25)
  assert analytic.dot_bytes == pytest.approx(cost.dot_bytes, rel=0.5)


def test_bytes_counted_from_the_hlo_agree_with_xla_without_loops():
  _, _, unrolled = _compiled("v4-16", "data=8", "SCAN_LAYERS=False")
  assert unrolled.bytes_accessed == pytest.approx(unrolled.xla_bytes_accessed, rel=0.02)
  assert unrolled.operations > 100


def test_multislice_attribution_to_axes_and_networks():
  p, step, cost = _compiled("2xv4-8", "replica=2,data=2,model=2")
  kinds = {(c.kind, c.axes, c.network) for c in cost.collectives}
  assert ("all-reduce", ("model",), "ICI") in kinds  # Megatron-style activation sums
  assert ("all-reduce", ("data",), "ICI") in kinds and ("all-reduce", ("replica",), "DCN") in kinds  # gradients
  assert all(c.network == "DCN" for c in cost.collectives if "replica" in c.axes)
  analytic = plan_time.analytic_cost(p)
  # Only the gradient reduction crosses slices, and only the part left after the reduction over `data`.
  assert cost.network_bytes("DCN") == pytest.approx(analytic.dcn_bytes, rel=0.35)
  # The report shows the table and both predictions, from the one compile that also gave the memory.
  text = plan.report(p, ["runs/demo.gin"], plan.compiled_memory(p, step), cost)
  assert "replica         DCN" in text and "time (from the compiled program)" in text
  assert "compiled / model" in text


def test_bench_plan_compares_the_prediction_with_measured_steps(capsys):
  from flanx.bench import plan as bench_plan
  assert bench_plan.main(["--gin_file=runs/demo.gin", "--steps=1", "--measure_seconds=0.1"]) == 0
  out = capsys.readouterr().out
  assert "GFLOP/s (float32 matmul), memory" in out and "predicted: compute" in out, out
  error = re.search(r"error \(predicted / measured median - 1\): ([+-][\d.]+)%", out)
  assert error and abs(float(error.group(1))) < 1000, out  # a finite comparison; its size is docs/tpu.md's


@pytest.mark.parametrize("argv,message", [
    (["--steps=0"], "--steps=0 must be positive"),
    (["--gin_file=runs/demo.gin", "--gin_file=runs/demo_palm.gin"], "takes one --gin_file"),
    (["--batch_size=4"], "--batch_size need a --gin_file"),
])
def test_bench_plan_bad_flags_are_one_line(argv, message, capsys):
  from flanx import cli
  assert cli.main(["bench", "plan", *argv]) == 2
  err = capsys.readouterr().err.strip()
  assert message in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("argv,message", [
    (["--gin_file=runs/demo.gin", "--topology=v4-8", "--gin.TRAIN_STEPS=0"], "TRAIN_STEPS=0 must be at least 1"),
    (["--gin_file=runs/flan_palm_540b.gin", "--topology=v4-4096", "--compile"],
     "--compile simulates at most 1024 devices; this mesh has 2048"),
])
def test_plan_time_inputs_are_one_line(argv, message, capsys):
  from flanx import cli
  assert cli.main(["plan", *argv]) == 2
  err = capsys.readouterr().err.strip()
  assert message in err and len(err.splitlines()) == 1, err
