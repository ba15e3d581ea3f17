"""flanx plan: the paper's run files fit their slices, the estimate agrees with XLA, bad input is one line."""

import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from flanx import cli, plan, plan_chips, plan_memory, plan_time
from flanx.errors import FlanxError

PAPER_RUNS = ["flan_t5_small", "flan_t5_base", "flan_t5_large", "flan_t5_xl", "flan_t5_xxl",
              "flan_palm_8b", "flan_palm_62b", "flan_palm_540b"]


@pytest.mark.parametrize("run", PAPER_RUNS)
def test_every_paper_run_fits_its_slice(run):
  inputs = plan.load([f"runs/{run}.gin"], [])
  topology = plan_chips.parse_topology(inputs.partition.topology)
  result = plan.make_plan(inputs, topology)
  assert int(np.prod(list(result.mesh_shape.values()))) == topology.num_devices
  assert inputs.feature_lengths == {"inputs": 2048, "targets": 512}
  assert result.fits, plan.report(result, [run])
  # A real margin, not a rounding accident: the run leaves at least 5% of the chip free.
  assert result.estimate.total < 0.85 * topology.chip.bytes_per_device


def test_paper_hyperparameters_reach_the_configurables():
  t5 = plan.load(["runs/flan_t5_xxl.gin"], [])
  assert (t5.batch_size, t5.optimizer.learning_rate, t5.model.config.dropout_rate) == (64, 5e-4, 0.05)
  assert t5.model.config.scan_layers and t5.model.config.remat_policy == "full"
  palm = plan.load(["runs/flan_palm_540b.gin"], [])
  assert (palm.batch_size, palm.optimizer.learning_rate, palm.model.config.dropout_rate) == (32, 1e-3, 0.1)
  assert palm.partition.rules == "model_parallel_2d" and tuple(palm.partition.mesh_shape) == (32, 16)


def test_a_run_too_big_for_its_slice_does_not_fit():
  inputs = plan.load(["runs/flan_t5_xxl.gin"], [])
  result = plan.make_plan(inputs, plan_chips.parse_topology("v4-8"), plan.parse_mesh("data=4"))
  assert not result.fits
  assert "fits: NO" in plan.report(result, ["runs/flan_t5_xxl.gin"])


def test_sharding_rules_shrink_the_per_device_state():
  topology, mesh = plan_chips.parse_topology("v4-32"), plan.parse_mesh("data=4,model=4")
  replicated = plan.make_plan(plan.load(["runs/flan_t5_xl.gin"], ["PARTITIONING_RULES='data_parallel'"]), topology,
                              mesh)
  sharded = plan.make_plan(plan.load(["runs/flan_t5_xl.gin"], ["PARTITIONING_RULES='model_parallel_2d'"]),
                           topology, mesh)
  assert sharded.estimate.parameters < replicated.estimate.parameters / 15  # 16-way split, up to rounding
  assert sharded.estimate.optimizer_state < replicated.estimate.optimizer_state
  assert sharded.estimate.activations < replicated.estimate.activations  # heads and MLP split over `model`


def test_microbatches_trade_activations_for_a_gradient_accumulator():
  topology = plan_chips.parse_topology("v4-64")
  layout = ["MESH_SHAPE=(8, 4)", "PARTITIONING_RULES='model_parallel_2d'", "REMAT_POLICY='full'"]
  one = plan.make_plan(plan.load(["runs/flan_t5_xxl.gin"], [*layout, "NUM_MICROBATCHES=1"]), topology)
  two = plan.make_plan(plan.load(["runs/flan_t5_xxl.gin"], [*layout, "NUM_MICROBATCHES=2"]), topology)
  assert (one.batch_per_device, two.batch_per_device) == (8, 4)
  assert two.estimate.gradients == 2 * one.estimate.gradients
  assert two.estimate.activations < 0.6 * one.estimate.activations


def test_sharded_bytes_divides_each_dimension_by_its_mesh_axes():
  mesh = {"replica": 2, "data": 4, "model": 2}
  assert plan_memory.sharded_bytes((10, 64), np.float32, P("data", None), mesh) == 3 * 64 * 4  # ceil(10 / 4)
  assert plan_memory.sharded_bytes((8, 64), np.float32, P(("replica", "data"), "model"), mesh) == 1 * 32 * 4
  assert plan_memory.sharded_bytes((8,), np.float32, P(), mesh) == 32


def test_estimate_agrees_with_the_compiled_train_step_on_tiny():
  inputs = plan.load(["runs/demo.gin"], [])
  result = plan.make_plan(inputs, plan_chips.parse_topology("v4-8"))  # 4 devices, data=4
  compiled = plan.compiled_memory(result)
  assert compiled["total"] > 0
  assert abs(result.estimate.total / compiled["total"] - 1) < 0.15, (result.estimate, compiled)


@pytest.mark.parametrize("name,devices,memory", [
    ("v4-64", 32, 32 * 2**30), ("v3-8", 8, 16 * 2**30), ("v5litepod-16", 16, 16 * 2**30), ("v5e-4", 4, 16 * 2**30),
    ("v5p-128", 64, 95 * 2**30), ("v6e-8", 8, 32 * 2**30), ("h100-16", 16, 80 * 10**9), ("2xv4-64", 64, 32 * 2**30),
    ("a100-80gb-8", 8, 80 * 10**9)])
def test_topologies(name, devices, memory):
  topology = plan_chips.parse_topology(name)
  assert (topology.num_devices, topology.chip.bytes_per_device) == (devices, memory)


@pytest.mark.parametrize("bad", ["", "v4", "v9-8", "v4-3", "v4-0", "h100-0", "tpu-8", "v4--8", "0xv4-8"])
def test_bad_topologies_are_one_line(bad):
  with pytest.raises(FlanxError, match="--topology"):
    plan_chips.parse_topology(bad)


@pytest.mark.parametrize("bad", ["", " ", "data", "data=", "data=0", "data=-1", "data=x", "data=2.5", "foo=2",
                                 "data=2,data=2", "data=2,,model=2"])
def test_bad_meshes_are_one_line(bad):
  with pytest.raises(FlanxError, match="--mesh"):
    plan.parse_mesh(bad)


def test_mesh_must_match_the_slice():
  inputs = plan.load(["runs/flan_t5_small.gin"], [])
  with pytest.raises(FlanxError, match="has 8 devices, but v4-8 has 4"):
    plan.make_plan(inputs, plan_chips.parse_topology("v4-8"), plan.parse_mesh("data=4,model=2"))


def test_batch_must_split_over_the_data_shards():
  inputs = plan.load(["runs/flan_palm_8b.gin"], ["BATCH_SIZE=12"])
  with pytest.raises(FlanxError, match="BATCH_SIZE=12"):
    plan.make_plan(inputs, plan_chips.parse_topology("v4-64"))


@pytest.mark.parametrize("argv,message", [
    (["plan"], "no --gin_file"),
    (["plan", "--gin_file=runs/demo.gin"], "no slice to plan for"),
    (["plan", "--gin_file=runs/demo.gin", "--topology", "v9-8"], "--topology 'v9-8'"),
    (["plan", "--gin_file=runs/demo.gin", "--topology="], "--topology ''"),
    (["plan", "--gin_file=runs/demo.gin", "--topology=v4-8", "--mesh="], "--mesh is empty"),
    (["plan", "--gin_file=runs/flan_t5_xl.gin", "--gin.NO_SUCH_MACRO=1"], "unknown gin macro NO_SUCH_MACRO"),
    (["plan", "--gin_file=runs/no_such.gin", "--topology=v4-8"], "not found"),
    # What flanx train refuses, plan refuses with the same line (exit 2, not 1 for "does not fit").
    (["plan", "--gin_file=runs/demo.gin", "--topology=v4-8", "--mesh=data=4", "--gin.BATCH_SIZE=64",
      "--gin.NUM_MICROBATCHES=3"], "BATCH_SIZE=64 is not divisible by NUM_MICROBATCHES=3 x the 4 data shards"),
    (["plan", "--gin_file=runs/demo.gin", "--topology=v4-8", "--gin.BATCH_SIZE='sixty-four'"],
     "BATCH_SIZE='sixty-four' must be an integer (got str)"),
    (["plan", "--gin_file=runs/demo.gin", "--topology=v4-8", "--gin.NUM_MICROBATCHES=0"], "NUM_MICROBATCHES=0"),
    # A model axis that splits the tiny model's 4 heads unevenly: train's line, naming the setting that chose it.
    (["plan", "--gin_file=runs/demo.gin", "--topology=v4-16", "--gin.NUM_PARTITIONS=8"],
     "has a dimension of 4 (dimension 1, 'heads'), not divisible by model=8 on the mesh replica=1, data=1, model=8; "
     "change MESH_SHAPE / NUM_PARTITIONS / PARTITIONING_RULES"),
    (["plan", "--gin_file=runs/demo.gin", "--topology=v4-16", "--mesh=model=8"],
     "not divisible by model=8 on the mesh replica=1, data=1, model=8; change --mesh / PARTITIONING_RULES"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
  assert cli.main(argv) == 2
  err = capsys.readouterr().err.strip()
  assert message in err and len(err.splitlines()) == 1, err


def test_cli_prints_the_plan_and_exits_by_fit(capsys):
  assert cli.main(["plan", "--gin_file=runs/flan_t5_xl.gin"]) == 0
  out = capsys.readouterr().out
  assert "v4-32" in out and "data=16, model=1" in out and "fits: yes" in out
  # The predicted time, from shapes (tests/pod/test_plan_cost.py checks the model behind it).
  assert "time (estimate from shapes)" in out and "MFU" in out and "hours for TRAIN_STEPS=38000" in out
  assert "predictions, not timings" in out
  assert cli.main(["plan", "--gin_file=runs/flan_t5_xl.gin", "--topology=v5litepod-4", "--mesh", "data=4"]) == 1
  assert "fits: NO" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--topology"], "expected one argument"),
    (["--mesh"], "expected one argument"),
    (["--compile=yes"], "ignored explicit argument"),
    (["--frobnicate"], "unrecognized arguments"),
])
def test_cli_flag_errors_are_one_line(argv, message, capsys):
  assert cli.main(["plan", "--gin_file=runs/demo.gin", *argv]) == 2
  err = capsys.readouterr().err.strip()
  assert message in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("run", PAPER_RUNS)
def test_paper_runs_parse_as_flanx_train_reads_them(run):
  import gin

  from flanx import gin_config, partitioning as partitioning_lib
  # Finalized: nothing left REQUIRED once MODEL_DIR and the starting checkpoint are given (tests/test_paper_runs.py).
  gin_config.parse([f"runs/{run}.gin"], ["MODEL_DIR = '/tmp/unused'", "INITIAL_CHECKPOINT_PATH = None"])
  assert gin.query_parameter("%MIXTURE_OR_TASK_NAME") == "flan2022_proportion_b"
  config = partitioning_lib.PartitionConfig()
  assert config.topology == gin.query_parameter("%TOPOLOGY") and config.mesh_shape is not None


def _small_config(*bindings: str):
  return plan.load(["runs/flan_t5_small.gin"], list(bindings)).model.config


def test_blockwise_attention_keeps_no_score_sized_activations():
  # T5 Small, bfloat16, dropout 0.05: 6 heads; encoder keys 2048 (tiled by 512), decoder self keys 512 (whole).
  whole, tiled = _small_config(), _small_config("ATTENTION_BLOCK_SIZE=512")
  h, a, f32 = whole.num_heads, 2, 4 * plan_memory._SCORE_F32_ARRAYS  # the f32 score-sized arrays kept
  encoder = [plan_memory.layer_bytes(2048, 2048, c, 1, a) for c in (whole, tiled)]
  scores = h * 2048 * 2048  # one (heads, q, k) array's elements
  # Kept: the f32 logits, the probabilities and the dropout mask go; a f32 log-sum-exp per head and query comes.
  assert encoder[0]["all"] - encoder[1]["all"] == scores * (f32 + a + 1) - h * 2048 * 4
  # dots_saveable saves no tile's product either; it saves the output (bfloat16 held as float32 on XLA CPU).
  output = plan_memory._HELD_TOKEN_VALUES * 2048 * h * whole.head_dim * a
  assert encoder[0]["dots"] - encoder[1]["dots"] == scores * (f32 + a) - h * 2048 * 4 - output
  assert encoder[1]["tile"] == h * 2048 * 512 * (4 * 4 + a + 4 + 1) and encoder[0]["tile"] == 0
  # The traffic and the random bits drawn are those of whole attention: the tiles still pass through memory.
  for key in ("produced", "random_bits", "weight_dots", "inputs"):
    assert encoder[0][key] == encoder[1][key]
  assert encoder[0]["random_held"] - encoder[1]["random_held"] == 4 * scores  # a tile's bits are in its tile
  # The decoder's self-attention over 512 keys is one tile, so whole; only its cross-attention is tiled.
  decoder = [plan_memory.layer_bytes(512, 512, c, 1, a, cross_tokens=2048) for c in (whole, tiled)]
  assert decoder[0]["all"] - decoder[1]["all"] == h * 512 * 2048 * (f32 + a + 1) - h * 512 * 4
  # With remat none, the kept activations of the run drop by more than half.
  lengths = {"inputs": 2048, "targets": 512}
  kept = [plan_memory.activation_bytes(c, lengths, 4, 1) for c in
          (_small_config("REMAT_POLICY='none'"), _small_config("REMAT_POLICY='none'", "ATTENTION_BLOCK_SIZE=512"))]
  assert kept[1] < 0.5 * kept[0]
  inputs = plan.load(["runs/flan_t5_small.gin"], ["ATTENTION_BLOCK_SIZE=512"])
  assert "; attention blocks of 512" in plan.report(plan.make_plan(inputs, plan_chips.parse_topology("v4-8")), [])


def test_blockwise_attention_adds_the_recomputed_query_key_products_to_the_remat_factor():
  lengths = {"inputs": 2048, "targets": 512}
  for policy in ("none", "full", "dots_with_no_batch_dims_saveable"):
    whole = plan.load(["runs/flan_t5_small.gin"], [f"REMAT_POLICY='{policy}'"]).model
    tiled = plan.load(["runs/flan_t5_small.gin"], [f"REMAT_POLICY='{policy}'", "ATTENTION_BLOCK_SIZE=512"]).model
    c = whole.config
    inner = c.num_heads * c.head_dim
    # The encoder's self-attention and the decoder's cross-attention are tiled; q k^T runs once more backward.
    again = c.num_encoder_layers * 2048 * 2 * 2048 * inner + c.num_decoder_layers * 512 * 2 * 2048 * inner
    extra = plan_time.remat_factor(tiled, lengths) - plan_time.remat_factor(whole, lengths)
    assert extra == pytest.approx(again / whole.flops_per_example(lengths), rel=1e-9)
