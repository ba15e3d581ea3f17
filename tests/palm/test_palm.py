"""The PaLM-style decoder-only model: prefix-LM masking, packing, cached decoding, mesh invariance, gin sizes."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import seqio
import tensorflow as tf

from flanx import gin_config
from flanx.models import palm
from flanx.models.decoder_only import DecoderOnlyModel

LENGTHS = {"inputs": 12, "targets": 8}


def tiny(**overrides) -> DecoderOnlyModel:
  config = dict(vocab_size=384, emb_dim=64, num_heads=4, head_dim=16, mlp_dim=256, num_layers=2)
  return DecoderOnlyModel(palm.PaLMConfig(**{**config, **overrides}), seqio.ByteVocabulary())


@pytest.fixture(scope="module")
def model_and_params():
  model = tiny()
  return model, nn.meta.unbox(model.init(jax.random.key(0), LENGTHS))


def _to_scanned(params: dict, num_layers: int) -> dict:
  """Loop-layout parameters (layers_0, layers_1, ...) -> scan layout (one `layers` tree, stacked)."""
  out = dict(params)
  out["layers"] = jax.tree.map(lambda *xs: jnp.stack(xs), *(out.pop(f"layers_{i}") for i in range(num_layers)))
  return out


@pytest.fixture(scope="module")
def scanned_model_and_params(model_and_params):
  """The same weights as `model_and_params`, run as one nn.scan over rematerialised layers."""
  model, params = model_and_params
  return tiny(scan_layers=True, remat_policy="full"), _to_scanned(params, model.config.num_layers)


def _prefix_lm(inputs: list[int], targets: list[int], length: int) -> dict[str, np.ndarray]:
  """One unpacked row as PrefixLMFeatureConverter lays it out."""
  seq = np.zeros(length, np.int32)
  seq[:len(inputs) + len(targets)] = inputs + targets
  shifted = np.concatenate([[0], seq[:-1]]).astype(np.int32)
  causal = (np.arange(length) <= len(inputs)).astype(np.int32)
  weights = ((np.arange(length) >= len(inputs)) & (seq > 0)).astype(np.int32)
  return {"decoder_target_tokens": seq[None], "decoder_input_tokens": shifted[None],
          "decoder_causal_attention": causal[None], "decoder_loss_weights": weights[None]}


def test_prefix_lm_mask():
  valid = jnp.array([[1, 1, 1, 1, 1, 0]], bool)
  causal_attention = jnp.array([[1, 1, 1, 0, 0, 0]])  # inputs (plus the shifted first target slot)
  mask = np.asarray(palm.prefix_lm_mask(valid, causal_attention))[0, 0]
  assert mask[:3, :3].all()  # inputs see each other both ways
  assert not mask[:3, 3:].any()  # never a target
  np.testing.assert_array_equal(mask[3:5, :5], np.tril(np.ones((5, 5), bool))[3:5])  # targets: causal
  assert not mask[:, 5].any()  # never padding


def test_inputs_see_later_inputs_but_never_targets(model_and_params):
  model, params = model_and_params
  logits = jax.jit(model.logits)
  base = _prefix_lm([5, 6, 7, 8], [9, 10, 11], 20)
  changed_input = _prefix_lm([5, 6, 7, 99], [9, 10, 11], 20)
  changed_target = _prefix_lm([5, 6, 7, 8], [9, 10, 77], 20)
  a, b, c = (np.asarray(logits(params, x))[0] for x in (base, changed_input, changed_target))
  # The last input sits at position 4 of the shifted sequence; position 1 sees it bidirectionally.
  assert np.abs(a[1] - b[1]).max() > 1e-4
  # The third target is fed at position 7 of the shifted sequence: every earlier position is untouched.
  np.testing.assert_allclose(a[:7], c[:7], atol=1e-6)
  assert np.abs(a[7] - c[7]).max() > 1e-4


def test_loss_is_on_targets_only(model_and_params):
  model, params = model_and_params
  batch = _prefix_lm([5, 6, 7, 8], [9, 10, 11], 20)
  sums = jax.jit(model.loss_sums)(params, batch, None)
  assert float(sums["target_tokens"]) == 3.0


def _packed_batch(examples, pack=True):
  ds = tf.data.Dataset.from_generator(
      lambda: ({"inputs": np.array(i, np.int32), "targets": np.array(t, np.int32)} for i, t in examples),
      output_signature={"inputs": tf.TensorSpec([None], tf.int32), "targets": tf.TensorSpec([None], tf.int32)})
  converted = seqio.PrefixLMFeatureConverter(pack=pack)(ds, LENGTHS)
  return next(converted.batch(len(examples)).as_numpy_iterator())


def test_packed_sequences_never_attend_across_segments(model_and_params):
  model, params = model_and_params
  first, second = ([5, 6, 7], [8, 9, 1]), ([20, 21], [22, 1])
  packed = _packed_batch([first, second])
  assert packed["decoder_segment_ids"][0].max() == 2  # both examples share one row
  alone = _packed_batch([first], pack=False)
  length = len(first[0]) + len(first[1])
  packed_logits = np.asarray(jax.jit(model.logits)(params, packed))[0, :length]
  alone_logits = np.asarray(jax.jit(model.logits)(params, alone))[0, :length]
  np.testing.assert_allclose(packed_logits, alone_logits, atol=1e-5)
  other = _packed_batch([first, ([30, 31], [32, 1])])  # a different second example
  np.testing.assert_allclose(np.asarray(jax.jit(model.logits)(params, other))[0, :length], packed_logits, atol=1e-6)


@pytest.mark.parametrize("layout", ["loop", "scan"])
def test_cached_decoding_equals_full_forward(layout, request):
  model, params = request.getfixturevalue({"loop": "model_and_params", "scan": "scanned_model_and_params"}[layout])
  inputs = [[5, 6, 7, 8, 9], [40, 41]]  # different prompt lengths: right-padded in one batch
  targets = [[11, 12, 13, 14], [50, 51, 52, 53]]
  prompt = np.zeros((2, 6), np.int32)
  for row, x in enumerate(inputs):
    prompt[row, :len(x)] = x
  cache = jax.jit(model.init_cache, static_argnums=2)(params, jnp.asarray(prompt), len(targets[0]))
  step = jax.jit(model.decode_step)
  logits = jax.jit(model.logits)
  fulls = [np.asarray(logits(params, _prefix_lm(x, t, 16)))[0] for x, t in zip(inputs, targets)]
  fed = np.zeros(2, np.int32)
  for p in range(len(targets[0])):
    got, cache = step(params, cache, jnp.asarray(fed), jnp.int32(p))
    for row, (x, full) in enumerate(zip(inputs, fulls)):
      np.testing.assert_allclose(np.asarray(got)[row], full[len(x) + p], atol=1e-4, err_msg=f"row {row} step {p}")
    fed = np.array([t[p] for t in targets], np.int32)


def test_scan_and_remat_compute_the_same_loss_and_grads(model_and_params, scanned_model_and_params):
  (loop, params), (scanned, scanned_params) = model_and_params, scanned_model_and_params
  structure = jax.tree.structure(nn.meta.unbox(scanned.init(jax.random.key(0), LENGTHS)))
  assert jax.tree.structure(scanned_params) == structure
  batch = {k: jnp.asarray(v) for k, v in _prefix_lm([5, 6, 7], [8, 9, 10, 11], 20).items()}

  def loss(model):
    return jax.jit(jax.value_and_grad(lambda p: model.loss_sums(p, batch, None)["objective"]))

  l1, g1 = loss(loop)(params)
  l2, g2 = loss(scanned)(scanned_params)
  np.testing.assert_allclose(l1, l2, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(_to_scanned(g1, loop.config.num_layers)), jax.tree.leaves(g2), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_scanned_parameters_carry_the_layers_axis():
  spec = nn.get_partition_spec(tiny(scan_layers=True).init(jax.random.key(0), LENGTHS))
  assert tuple(spec["layers"]["attention"]["query"]) == ("layers", "embed", "heads", "kv")


def test_reorder_cache_moves_whole_rows(model_and_params):
  model, params = model_and_params
  cache = model.init_cache(params, jnp.asarray([[5, 6, 0], [7, 8, 9]], jnp.int32), 4)
  swapped = model.reorder_cache(cache, jnp.asarray([1, 0]))
  assert cache.batch_axis == 0  # loop layout: one cached_key / cached_value per layer, batch first
  keys_and_values = jax.tree.leaves(cache.layers)
  assert len(keys_and_values) == 2 * model.config.num_layers
  for swapped_t, t in zip(jax.tree.leaves(swapped.layers), keys_and_values, strict=True):
    np.testing.assert_array_equal(swapped_t[0], t[1])
    assert np.abs(np.asarray(t[0]) - np.asarray(t[1])).max() > 0  # so the swap is visible
  np.testing.assert_array_equal(swapped.rows["lengths"], cache.rows["lengths"][::-1])


def test_losses_equal_on_1x1_and_2x4_meshes(model_and_params):
  from flanx import partitioning
  from flanx.optimizer import OptimizerConfig
  from flanx.trainer import Trainer

  model, params = model_and_params
  rng = np.random.default_rng(0)
  examples = [(list(rng.integers(3, 300, rng.integers(2, 6))), list(rng.integers(3, 300, rng.integers(1, 4))))
              for _ in range(24)]
  batch = _packed_batch(examples)
  batch = {k: v[:8] for k, v in batch.items()}
  results = []
  for shape, devices in (((1, 1), jax.devices()[:1]), ((2, 4), jax.devices()[:8])):
    config = partitioning.PartitionConfig(mesh_shape=shape)
    trainer = Trainer(model, OptimizerConfig(), partitioning.Partitioner(config, devices), LENGTHS)
    sharded = jax.device_put(params, trainer.param_shardings)
    results.append(jax.device_get(trainer.eval_step(sharded, jax.device_put(batch, trainer._batch_sharding))))
  assert results[0]["target_tokens"] > 8
  for key in ("loss", "cross_entropy", "z_loss", "accuracy"):
    np.testing.assert_allclose(results[1][key], results[0][key], rtol=1e-5, err_msg=key)


def test_scanned_layers_take_the_adafactor_steps_of_the_loop(model_and_params):
  """T5X's Adafactor treats `layers` as a batch axis: from the same weights, the scanned model and the loop of
  layers take the same two steps (matrices from 16 factored in both, as every PaLM size's are)."""
  from flanx import partitioning
  from flanx.optimizer import OptimizerConfig
  from flanx.trainer import Trainer

  model, params = model_and_params
  rng = np.random.default_rng(1)
  examples = [(list(rng.integers(3, 300, rng.integers(2, 6))), list(rng.integers(3, 300, rng.integers(1, 4))))
              for _ in range(24)]
  batch = {k: v[:4] for k, v in _packed_batch(examples).items()}
  optimizer, partition = OptimizerConfig(learning_rate=1e-2, min_dim_size_to_factor=16), partitioning.PartitionConfig()
  states = []
  for m, p in ((model, params), (tiny(scan_layers=True), _to_scanned(params, model.config.num_layers))):
    trainer = Trainer(m, optimizer, partitioning.Partitioner(partition, jax.devices()[:1]), LENGTHS)
    state = trainer.state_from_params(jax.device_put(jax.tree.map(jnp.array, p), trainer.param_shardings))
    for step in range(2):
      state, _ = trainer.train_step(state, batch, jax.random.key(step))
    states.append(jax.device_get(state.params))
  loop, scanned = _to_scanned(states[0], model.config.num_layers), states[1]
  assert not np.allclose(loop["layers"]["attention"]["key"], _to_scanned(params, 2)["layers"]["attention"]["key"])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), scanned, loop)


@pytest.mark.parametrize("size, layers, d_model, heads", [("8b", 32, 4096, 16), ("62b", 64, 8192, 32),
                                                          ("540b", 118, 18432, 48)])
def test_gin_sizes_match_the_paper(size, layers, d_model, heads):
  import gin
  gin_config.parse([f"models/palm/{size}.gin"], [])
  config = gin.get_configurable(palm.PaLMConfig)()
  assert (config.num_layers, config.emb_dim, config.num_heads, config.head_dim, config.mlp_dim) == (
      layers, d_model, heads, 256, 4 * d_model)
  gin.clear_config()
