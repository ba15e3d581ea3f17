"""Model-parallel attention keeps heads sharded: on data=2,model=4 (the 8 simulated devices of tests/conftest.py)
the compiled train step does the model's FLOPs once, and gathers no activations over `model`.

Before attention kept (batch, heads) as two batch dimensions of its products, it merged them into one; XLA could
not keep that dimension sharded, all-gathered q, k and v over `model`, and every model shard computed all heads'
scores: the tiny T5 compiled to 1.25x its model FLOPs with remat `none` (docs/tpu.md, "The time model").
"""

import pytest

from flanx import plan, plan_chips, plan_cost, plan_time

MESH = "data=2,model=4"


def _compile(gin_file: str):
  p = plan.make_plan(plan.load([gin_file], ["SCAN_LAYERS=True"]), plan_chips.parse_topology("v4-16"),
                     plan.parse_mesh(MESH))
  return p, plan_cost.compiled_cost(p, plan.compile_train_step(p))


def _gathered_over_model(cost: plan_cost.CompiledCost) -> float:
  return sum(c.bytes for c in cost.collectives if c.kind == "all-gather" and "model" in c.axes)


def _replicated_key_value_share(p: plan.Plan) -> float:
  """PaLM's multi-query attention has one key/value head, which `model` cannot split: every model shard computes
  the whole key and value projections (forward and both backward products) for its batch rows. Their share of
  the model FLOPs, so that the test can add the (model - 1) repeats the layout implies."""
  config, lengths = p.inputs.model.config, p.inputs.feature_lengths
  length = lengths["inputs"] + lengths["targets"]
  key_value = 3.0 * config.num_layers * length * 2 * (2 * config.emb_dim * config.head_dim)
  return key_value / p.inputs.model.flops_per_example(lengths)


@pytest.mark.parametrize("gin_file", ["runs/demo.gin", "runs/demo_palm.gin"])
def test_model_parallel_attention_does_the_model_flops_once(gin_file):
  p, cost = _compile(gin_file)
  assert p.mesh_shape["model"] == 4
  analytic = plan_time.analytic_cost(p)
  assert plan_time.remat_factor(p.inputs.model, p.inputs.feature_lengths) == 1.0  # remat `none`
  repeated = _replicated_key_value_share(p) if "palm" in gin_file else 0.0
  assert repeated < 0.03  # PaLM's tiny key/value projections: small beside what a gathered attention repeats
  expected = analytic.model_flops * (1.0 + (p.mesh_shape["model"] - 1) * repeated)
  assert cost.flops == pytest.approx(expected, rel=0.05)
  # Parameters may be gathered over `model` (an unsharded bias, say); q, k and v must not be: the old layout
  # gathered 2.6 MiB per step for the tiny T5, 2.8x its parameters' bytes.
  assert _gathered_over_model(cost) <= 4 * p.num_params
