"""flanx's Adafactor against T5X's adafactor_test.py cases, optax on plain matrices, per-layer statistics for
stacked layers, the factored state of every T5 and PaLM kernel, and a scanned model stepping as a loop of layers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import seqio

from flanx import adafactor as af
from flanx import partitioning
from flanx.errors import FlanxError
from flanx.models import DecoderOnlyModel, EncoderDecoderModel, T5Config
from flanx.models.palm import PaLMConfig
from flanx.optimizer import OptimizerConfig
from tests.helpers import demo_batches, tiny_model, trainer_on

# Named rules for T5X's tests, which write factor rules by position: r(ow), c(olumn), b(atch).
RULES = {"r": af.FactorDim.ROW, "c": af.FactorDim.COLUMN, "b": af.FactorDim.BATCH}


def state_shapes(shape, axes, min_dim):
  plan = {"a": af.factoring(shape, axes, min_dim, RULES)}
  state = af.adafactor(0.1, plan).init({"a": jnp.ones(shape)})
  return {"v_row": state.v_row["a"].shape, "v_col": state.v_col["a"].shape, "v": state.v["a"].shape}


@pytest.mark.parametrize("shape, axes, min_dim, expected", [
    # T5X test_2D_simple / test_2D_simple_nofactor / test_factorizes: the heuristic, by size.
    ((24, 16), None, 8, {"v_row": (16,), "v_col": (24,), "v": (1,)}),
    ((24, 16), None, 32, {"v_row": (1,), "v_col": (1,), "v": (24, 16)}),
    ((64, 64), None, 32, {"v_row": (64,), "v_col": (64,), "v": (1,)}),
    ((31, 64), None, 32, {"v_row": (1,), "v_col": (1,), "v": (31, 64)}),
    # test_2D_ignore_specified_factor_rule: a named matrix still uses the heuristic.
    ((24, 16), ("r", "c"), 8, {"v_row": (16,), "v_col": (24,), "v": (1,)}),
    ((24, 16), ("c", "r"), 8, {"v_row": (16,), "v_col": (24,), "v": (1,)}),
    # test_3D_simple_manual_rules: batch axes are kept, several row or column axes merge.
    ((24, 4, 16), ("c", "b", "r"), 8, {"v_row": (4, 16), "v_col": (24, 4), "v": (1,)}),
    ((24, 4, 16), ("r", "b", "c"), 8, {"v_row": (24, 4), "v_col": (4, 16), "v": (1,)}),
    ((24, 4, 16), ("c", "r", "r"), 8, {"v_row": (4, 16), "v_col": (24,), "v": (1,)}),
    ((24, 4, 16), ("c", "c", "r"), 8, {"v_row": (16,), "v_col": (24, 4), "v": (1,)}),
    # A named rule is used whatever the sizes (T5X: min_dim_size_to_factor is the heuristic's only).
    ((2, 4, 6), ("b", "r", "c"), 128, {"v_row": (2, 4), "v_col": (2, 6), "v": (1,)}),
])
def test_state_shapes_match_t5x(shape, axes, min_dim, expected):
  assert state_shapes(shape, axes, min_dim) == expected


def test_bad_factor_rules_are_one_line():
  with pytest.raises(FlanxError, match="rank > 2 needs logical axis names"):  # T5X test_3d_without_factor_map
    af.factoring((24, 4, 16), None)
  with pytest.raises(FlanxError, match="logical axis 'widgets' has no Adafactor factor rule"):
    af.factoring((4, 8), ("embed", "widgets"), where="parameter encoder/w")
  with pytest.raises(FlanxError, match="mix rows, columns and unfactored"):
    af.factoring((4, 8, 2), ("embed", "mlp", "relpos_buckets"))


def test_apply_gradient_matches_t5x():
  """T5X test_apply_gradient (factored): step 1 from given moments, the parameters and moments it expects."""
  plan = {"x": af.factoring((3, 2), None, 0)}
  tx = af.adafactor(0.1, plan, decay_rate=0.8)
  state = tx.init({"x": jnp.ones((3, 2))})
  state = state._replace(count=jnp.int32(1), v_row={"x": jnp.array([0.9, 0.9])},
                         v_col={"x": jnp.array([0.1, 0.1, 0.1])})
  updates, new = tx.update({"x": jnp.ones((3, 2))}, state, {"x": jnp.ones((3, 2))})
  np.testing.assert_allclose(1.0 + updates["x"], 0.9 * np.ones((3, 2)), rtol=1e-6)
  np.testing.assert_allclose(new.v_row["x"], [0.9574349] * 2, rtol=1e-6)
  np.testing.assert_allclose(new.v_col["x"], [0.6169143] * 3, rtol=1e-6)
  assert int(new.count) == 2


@pytest.mark.parametrize("shape", [(64, 132), (132, 64), (40, 24), (16,)])
def test_matrices_and_vectors_step_as_optax_adafactor(shape):
  """Without batch axes, the heuristic is the Adafactor paper's: optax's adafactor gives the same steps."""
  k1, k2 = jax.random.split(jax.random.key(0))
  params = {"a": jax.random.normal(k1, shape) * 0.1}
  schedule = optax.linear_schedule(0.0, 1e-2, 3)
  ours = af.adafactor(schedule, {"a": af.factoring(shape, None, 32)}, weight_decay_rate=1e-3)
  theirs = optax.adafactor(schedule, min_dim_size_to_factor=32, weight_decay_rate=1e-3)
  p1 = p2 = params
  s1, s2 = ours.init(params), theirs.init(params)
  for i in range(4):
    g = {"a": jax.random.normal(jax.random.fold_in(k2, i), shape)}
    u1, s1 = ours.update(g, s1, p1)
    u2, s2 = theirs.update(g, s2, p2)
    p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
  np.testing.assert_allclose(p1["a"], p2["a"], rtol=1e-5, atol=1e-7)


def test_stacked_layers_step_as_separate_layers():
  """The issue's case: two layers of weight std 0.02 and 0.2 stacked on a `layers` axis take the steps each takes
  alone (parameter scale, clipping and factoring within each layer)."""
  k = jax.random.split(jax.random.key(1), 4)
  shape = (64, 96)
  layers = [jax.random.normal(k[0], shape) * 0.02, jax.random.normal(k[1], shape) * 0.2]
  grads = [jax.random.normal(k[2], shape), jax.random.normal(k[3], shape) * 3.0]
  stacked_plan = {"w": af.factoring((2,) + shape, ("layers", "embed", "mlp"))}
  stacked = af.adafactor(1e-2, stacked_plan)
  p, g = {"w": jnp.stack(layers)}, {"w": jnp.stack(grads)}
  updates, _ = stacked.update(g, stacked.init(p), p)
  for i in range(2):
    # Alone, a matrix takes the size heuristic: factored here, as its stacked rule factors it.
    alone = af.adafactor(1e-2, {"w": af.factoring(shape, ("embed", "mlp"), min_dim_size_to_factor=32)})
    expected, _ = alone.update({"w": grads[i]}, alone.init({"w": layers[i]}), {"w": layers[i]})
    np.testing.assert_allclose(updates["w"][i], expected["w"], rtol=1e-5)
  rms = np.sqrt(np.mean(np.square(updates["w"]), axis=(1, 2)))
  assert rms[1] > 5 * rms[0]  # each layer's update follows its own scale


def _factored_state(model):
  shapes, specs = partitioning.abstract_params(model, {"inputs": 8, "targets": 8})
  optimizer = OptimizerConfig()
  state = jax.eval_shape(optimizer.build(shapes, specs).init, shapes)
  return shapes, state


def _at(tree, path):
  for key in path.split("/"):
    tree = tree[key]
  return tree.shape


def test_every_scanned_t5_kernel_is_factored_as_t5x():
  """T5 v1.1 XXL with SCAN_LAYERS: embed (rows) against the merged heads x kv or mlp columns, per layer."""
  model = EncoderDecoderModel(T5Config(emb_dim=4096, mlp_dim=10240, num_encoder_layers=24, num_decoder_layers=24,
                                       num_heads=64, head_dim=64, scan_layers=True), seqio.ByteVocabulary())
  shapes, state = _factored_state(model)
  L, d, h, k, f, v = 24, 4096, 64, 64, 10240, 32128
  expected = {
      **{f"{stack}/layers/{attn}/{w}": ((L, d), (L, h, k)) for stack, attn in
         [("encoder", "attention"), ("decoder", "self_attention"), ("decoder", "encoder_decoder_attention")]
         for w in ("query", "key", "value", "out")},
      **{f"{stack}/layers/mlp/{w}": ((L, d), (L, f)) for stack in ("encoder", "decoder")
         for w in ("wi_0", "wi_1", "wo")},
      "token_embedder/embedding": ((d,), (v,)),
      "decoder/logits_dense": ((d,), (v,)),
  }
  for path, (row, col) in expected.items():
    assert (_at(state.v_row, path), _at(state.v_col, path), _at(state.v, path)) == (row, col, (1,)), path
  # Norm scales and relative-position tables keep their full (per-layer) second moment.
  assert _at(state.v, "encoder/layers/pre_mlp_layer_norm/scale") == (L, d)
  assert _at(state.v, "encoder/relpos_bias/rel_embedding") == (h, 32)
  num_params = sum(x.size for x in jax.tree.leaves(shapes))
  num_state = sum(x.size for x in jax.tree.leaves(state))
  assert num_state / num_params < 0.005  # optax's adafactor held 43.4% here


def test_every_scanned_palm_kernel_is_factored_as_t5x():
  """PaLM 8B with SCAN_LAYERS: multi-query key/value (embed, kv) and the shared embedding."""
  model = DecoderOnlyModel(PaLMConfig(vocab_size=256128, emb_dim=4096, mlp_dim=16384, num_layers=32, num_heads=16,
                                      head_dim=256, scan_layers=True), seqio.ByteVocabulary())
  shapes, state = _factored_state(model)
  L, d, h, k, f = 32, 4096, 16, 256, 16384
  kernels = {path: _at(shapes, path) for path in
             ["layers/attention/" + w for w in ("query", "key", "value", "out")]
             + ["layers/mlp/" + w for w in ("wi_0", "wi_1", "wo")]}
  assert kernels["layers/attention/key"] == (L, d, k)
  expected = {"query": ((L, d), (L, h, k)), "out": ((L, d), (L, h, k)), "key": ((L, d), (L, k)),
              "value": ((L, d), (L, k)), "wi_0": ((L, d), (L, f)), "wi_1": ((L, d), (L, f)), "wo": ((L, d), (L, f))}
  for path in kernels:
    row, col = expected[path.rsplit("/", 1)[1]]
    assert (_at(state.v_row, path), _at(state.v_col, path), _at(state.v, path)) == (row, col, (1,)), path
  assert (_at(state.v_row, "token_embedder/embedding"), _at(state.v_col, "token_embedder/embedding")) == (
      (d,), (256128,))
  num_params = sum(x.size for x in jax.tree.leaves(shapes))
  assert sum(x.size for x in jax.tree.leaves(state)) / num_params < 0.005


def _stack_layers(loop_params):
  """A loop model's layers_0, layers_1, ... as the one `layers` tree of the scanned model."""
  out = {}
  for name, sub in loop_params.items():
    if not isinstance(sub, dict):
      out[name] = sub
      continue
    indices = sorted(int(k.split("_")[1]) for k in sub if k.startswith("layers_"))
    if indices:
      rest = {k: v for k, v in sub.items() if not k.startswith("layers_")}
      rest["layers"] = jax.tree.map(lambda *xs: jnp.stack(xs), *[sub[f"layers_{i}"] for i in indices])
      out[name] = _stack_layers(rest)
    else:
      out[name] = _stack_layers(sub)
  return out


def test_scanned_model_steps_as_the_loop_of_layers():
  """Same parameters, same batch: the scanned model and the loop model take the same two Adafactor steps."""
  batches = demo_batches(2, batch_size=8)
  loop, scanned = trainer_on((1, 1)), trainer_on((1, 1), model=tiny_model(scan_layers=True))
  state_loop = loop.init_state(jax.random.key(0))
  start = jax.device_get(state_loop.params)
  state_scan = scanned.state_from_params(jax.device_put(_stack_layers(start), scanned.state_shardings.params))
  for batch in batches:
    state_loop, m_loop = loop.train_step(state_loop, batch, jax.random.key(1))
    state_scan, m_scan = scanned.train_step(state_scan, batch, jax.random.key(1))
    np.testing.assert_allclose(float(m_scan["loss"]), float(m_loop["loss"]), rtol=1e-5)
  after_loop = _stack_layers(jax.device_get(state_loop.params))
  moved = jax.tree.map(lambda a, b: np.abs(np.asarray(a) - np.asarray(b)).max(), after_loop, _stack_layers(start))
  assert min(jax.tree.leaves(moved)) > 0  # every parameter moved
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-6),
               state_scan.params, after_loop)


def test_a_checkpoint_with_the_older_optimizer_layout_is_one_line(tmp_path):
  """A checkpoint written with optax's Adafactor state: resuming names the older layout and INITIAL_CHECKPOINT_PATH,
  and leaves the checkpoint where it is; its parameters still restore."""
  from flanx import checkpoints

  trainer = trainer_on((1, 1))
  state = trainer.init_state(jax.random.key(0))
  old = optax.adafactor(1e-2, min_dim_size_to_factor=16).init(state.params)
  writer = checkpoints.Checkpointer(tmp_path, period=1, async_save=False)
  writer.save(state.replace(step=jnp.int32(3), opt_state=old), {"consumed": 0})
  writer.close()
  reader = checkpoints.Checkpointer(tmp_path, period=1, async_save=False)
  with pytest.raises(checkpoints.CheckpointMismatch) as caught:
    reader.restore_latest(trainer.abstract_state())
  message = str(caught.value)
  assert "holds the older optimizer-state layout" in message and "\n" not in message
  assert f"INITIAL_CHECKPOINT_PATH={tmp_path}/checkpoint_3" in message
  assert (tmp_path / "checkpoint_3").is_dir()
  params = checkpoints.restore_params(checkpoints.locate(str(tmp_path), "INITIAL_CHECKPOINT_PATH"),
                                      trainer.abstract_state().params)
  np.testing.assert_array_equal(params["token_embedder"]["embedding"], state.params["token_embedder"]["embedding"])
