"""attend_blockwise: the value and gradients of attend over key tiles, no (batch, heads, q, k) residual, and
the tiny T5 and PaLM models computing the same loss and gradients with and without ATTENTION_BLOCK_SIZE."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import seqio

from tests.helpers import DEMO_LENGTHS, tiny_model
from flanx.errors import FlanxError
from flanx.models import layers, palm
from flanx.models.attention import attend, plain_attend
from flanx.models.blockwise_attention import attend_blockwise, blockwise_keep, check_lengths, uses_blocks
from flanx.models.decoder_only import DecoderOnlyModel

B, Q, T, H, D = 3, 6, 8, 2, 4


@pytest.fixture
def float64():
  jax.config.update("jax_enable_x64", True)
  yield
  jax.config.update("jax_enable_x64", False)


def inputs(mask_kind: str, dtype=jnp.float64):
  keys = jax.random.split(jax.random.key(0), 5)
  q = jax.random.normal(keys[0], (B, Q, H, D), dtype)
  k = jax.random.normal(keys[1], (B, T, H, D), dtype)
  v = jax.random.normal(keys[2], (B, T, H, D), dtype)
  bias = jax.random.normal(keys[3], (1, H, Q, T), dtype)
  out_weights = jax.random.normal(keys[4], (B, Q, H, D), dtype)
  # Row 0 full; row 1 with padded queries (rows with no allowed key) and padded keys; row 2 two packed segments.
  q_seg = jnp.array([[1] * Q, [1, 1, 1, 1, 0, 0], [1, 1, 2, 2, 2, 2]])
  k_seg = jnp.array([[1] * T, [1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 2, 2, 2, 2, 0]])
  mask = None if mask_kind == "none" else layers.attention_mask(q_seg > 0, k_seg > 0, q_seg, k_seg,
                                                                causal=mask_kind == "causal")
  return q, k, v, bias, mask, out_weights


def assert_grads_close(expected, got, names):
  for name, e, g in zip(names, expected, got):
    assert g.shape == e.shape and g.dtype == e.dtype, name
    np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=f"gradient of {name}")


CASES = [(False, "none", 2), (True, "packed", 2), (True, "causal", 4), (False, "causal", 8), (True, "packed", 8)]


@pytest.mark.parametrize("bias_on,mask_kind,block", CASES, ids=[f"{b}-{m}-{s}" for b, m, s in CASES])
def test_blockwise_equals_attend(float64, bias_on, mask_kind, block):
  q, k, v, bias, mask, out_weights = inputs(mask_kind)
  bias = bias if bias_on else None

  def loss(core):  # reads every output row, padded queries included, so their gradients are exercised
    return lambda q, k, v, bias: jnp.sum(jnp.tanh(core(q, k, v, bias)) * out_weights)

  def blockwise(q, k, v, bias):
    return attend_blockwise(q, k, v, bias, mask, block_size=block)

  def whole(q, k, v, bias):
    return attend(q, k, v, bias, mask)

  np.testing.assert_allclose(blockwise(q, k, v, bias), whole(q, k, v, bias), rtol=1e-12, atol=1e-12)
  argnums = (0, 1, 2, 3) if bias_on else (0, 1, 2)
  got = jax.jit(jax.grad(loss(blockwise), argnums))(q, k, v, bias)
  assert_grads_close(jax.grad(loss(whole), argnums)(q, k, v, bias), got, "q k v bias".split())
  if mask_kind == "packed":  # row 1's queries 4 and 5 see no key: no gradient through their logits
    assert float(jnp.max(jnp.abs(got[0][1, 4:]))) == 0.0 and float(jnp.min(jnp.abs(got[0][1, :4]))) > 0.0


def test_blockwise_dropout_equals_attend_given_the_same_mask(float64):
  q, k, v, bias, mask, out_weights = inputs("packed")
  key, rate, block = jax.random.key(5), 0.3, 4
  keep = blockwise_keep(key, rate, (B, H, Q, T), block)
  assert 0.5 < float(jnp.mean(keep)) < 0.9  # a real mask at keep probability 0.7
  assert not np.array_equal(keep[..., :block], keep[..., block:])  # each tile draws its own mask

  def loss(core):
    return lambda q, k, v, bias: jnp.sum(jnp.tanh(core(q, k, v, bias)) * out_weights)

  def blockwise(q, k, v, bias):
    return attend_blockwise(q, k, v, bias, mask, key, rate, block)

  def whole(q, k, v, bias):
    return attend(q, k, v, bias, mask, keep, rate)

  np.testing.assert_allclose(blockwise(q, k, v, bias), whole(q, k, v, bias), rtol=1e-12, atol=1e-12)
  got = jax.jit(jax.grad(loss(blockwise), (0, 1, 2, 3)))(q, k, v, bias)
  assert_grads_close(jax.grad(loss(whole), (0, 1, 2, 3))(q, k, v, bias), got, "q k v bias".split())
  without = attend_blockwise(q, k, v, bias, mask, block_size=block)
  assert not np.allclose(blockwise(q, k, v, bias), without)  # dropout did something


def test_blockwise_multi_query_equals_plain_attend(float64):
  """PaLM's layout: one key/value head (batch, k_length, head_dim) shared by every query head."""
  q, k, v, _, mask, out_weights = inputs("causal")
  k, v = k[:, :, 0], v[:, :, 0]
  key, rate, block = jax.random.key(2), 0.2, 2
  keep = blockwise_keep(key, rate, (B, H, Q, T), block)

  def loss(core):
    return lambda q, k, v: jnp.sum(jnp.tanh(core(q, k, v)) * out_weights)

  def blockwise(q, k, v):
    return attend_blockwise(q, k, v, None, mask, key, rate, block, key_layout="btk")

  def whole(q, k, v):
    return plain_attend(q, k, v, None, mask, keep, rate, key_layout="btk")

  np.testing.assert_allclose(blockwise(q, k, v), whole(q, k, v), rtol=1e-12, atol=1e-12)
  got = jax.jit(jax.grad(loss(blockwise), (0, 1, 2)))(q, k, v)
  assert_grads_close(jax.grad(loss(whole), (0, 1, 2))(q, k, v), got, "q k v".split())


def test_bfloat16_gradients_keep_their_dtypes_and_attends_values():
  """Training's activation dtype: float32 logits inside, bfloat16 out, within bfloat16's rounding of attend."""
  q, k, v, bias, mask, out_weights = inputs("packed", jnp.float32)
  q, k, v, out_weights = (x.astype(jnp.bfloat16) for x in (q, k, v, out_weights))

  def loss(core):
    return lambda q, k, v, bias: jnp.sum(core(q, k, v, bias, mask).astype(jnp.float32) * out_weights)

  def blockwise(q, k, v, bias, mask):
    return attend_blockwise(q, k, v, bias, mask, block_size=4)

  expected = jax.grad(loss(attend), (0, 1, 2, 3))(q, k, v, bias)
  got = jax.jit(jax.grad(loss(blockwise), (0, 1, 2, 3)))(q, k, v, bias)
  for name, e, g in zip("q k v bias".split(), expected, got):
    assert g.dtype == e.dtype, name
    np.testing.assert_allclose(g.astype(np.float32), e.astype(np.float32), atol=0.03, err_msg=f"gradient of {name}")


def _residual_sizes(core, *args) -> list[int]:
  """Element counts of the arrays the backward of `core` keeps (the leaves of jax.vjp's closure)."""
  _, backward = jax.vjp(jax.jit(core), *args)
  return [int(np.prod(x.shape)) for x in jax.tree.leaves(backward) if hasattr(x, "shape")]


def test_no_residual_of_the_scores_size():
  q, k, v, bias, mask, _ = inputs("packed", jnp.float32)
  scores = B * H * Q * T
  key, rate, block = jax.random.key(1), 0.3, 4
  keep = blockwise_keep(key, rate, (B, H, Q, T), block)
  # The check can fail: attend keeps its (batch, heads, q, k) weights (and the keep mask).
  assert max(_residual_sizes(lambda q, k, v, b: attend(q, k, v, b, mask, keep, rate), q, k, v, bias)) >= scores
  sizes = _residual_sizes(lambda q, k, v, b: attend_blockwise(q, k, v, b, mask, key, rate, block), q, k, v, bias)
  assert sizes and max(sizes) < scores, sizes


def test_block_size_must_divide_the_keys():
  q, k, v, _, _, _ = inputs("none", jnp.float32)
  with pytest.raises(FlanxError, match=r"ATTENTION_BLOCK_SIZE=3 does not divide the attention's key length 8"):
    attend_blockwise(q, k, v, block_size=3)
  assert [uses_blocks(b, 8) for b in (0, 3, 4, 8, 16)] == [False, False, True, False, False]
  shapes = tiny_model().batch_shapes(1, {"inputs": 32, "targets": 12})
  check_lengths(4, shapes, {"inputs": 32, "targets": 12})  # divides both lengths
  check_lengths(16, shapes, {"inputs": 32, "targets": 12})  # larger than the targets: whole attention there
  with pytest.raises(FlanxError, match=r"ATTENTION_BLOCK_SIZE=8 does not divide the attention key length 12"):
    check_lengths(8, shapes, {"inputs": 32, "targets": 12})


def test_attention_layer_draws_blockwise_dropout_from_its_dropout_rng():
  q, k, _, bias, mask, _ = inputs("packed", jnp.float32)
  x, memory = q.reshape(B, Q, H * D), k.reshape(B, T, H * D)

  def layer(block_size):
    return layers.Attention(H, D, dropout_rate=0.3, block_size=block_size)

  params = layer(4).init(jax.random.key(0), x, memory, mask, bias, deterministic=True)

  def apply(block_size, deterministic, seed=1):
    return layer(block_size).apply(params, x, memory, mask, bias, deterministic=deterministic,
                                   rngs={"dropout": jax.random.key(seed)})

  np.testing.assert_allclose(apply(4, True), apply(0, True), rtol=1e-5, atol=1e-6)  # no dropout: same values
  dropped = apply(4, False)
  assert np.isfinite(dropped).all() and not np.allclose(dropped, apply(4, True))
  np.testing.assert_array_equal(dropped, apply(4, False))  # the same rng draws the same masks
  assert not np.allclose(dropped, apply(4, False, seed=2))


# --- the models: block size > 0 gives block size 0's loss and gradients --------------------------------------

def _loss_and_grads(model, params, batch):
  return jax.jit(jax.value_and_grad(lambda p: model.loss_sums(p, batch, None)["objective"]))(params)


def assert_same_training(whole_model, blocks_model, lengths, batch):
  params = jax.jit(lambda key: nn.meta.unbox(whole_model.init(key, lengths)))(jax.random.key(0))
  expected_loss, expected = _loss_and_grads(whole_model, params, batch)
  loss, grads = _loss_and_grads(blocks_model, params, batch)
  np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
  for (path, e), g in zip(jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(grads)):
    np.testing.assert_allclose(g, e, rtol=2e-4, atol=2e-6, err_msg=jax.tree_util.keystr(path))


def _packed_t5_batch() -> dict[str, np.ndarray]:
  """Two rows as EncDecFeatureConverter packs them: row 0 two examples and padding, row 1 one full example."""
  rng = np.random.default_rng(0)
  lengths = {"encoder": ([12, 14], [32]), "decoder": ([5, 7], [16])}
  batch = {}
  for side, rows in lengths.items():
    width = DEMO_LENGTHS["inputs" if side == "encoder" else "targets"]
    segments = np.zeros((2, width), np.int32)
    positions = np.zeros((2, width), np.int32)
    for row, examples in enumerate(rows):
      start = 0
      for segment, n in enumerate(examples, 1):
        segments[row, start:start + n], positions[row, start:start + n] = segment, np.arange(n)
        start += n
    tokens = np.where(segments > 0, rng.integers(3, 300, (2, width)), 0).astype(np.int32)
    batch[f"{side}_segment_ids"], batch[f"{side}_positions"] = segments, positions
    if side == "encoder":
      batch["encoder_input_tokens"] = tokens
    else:
      batch["decoder_target_tokens"] = tokens
      batch["decoder_input_tokens"] = np.where(positions > 0, np.roll(tokens, 1, axis=1), 0).astype(np.int32)
      batch["decoder_loss_weights"] = (segments > 0).astype(np.int32)
  return batch


def test_t5_trains_the_same_with_blocks():
  batch = _packed_t5_batch()
  # Scanned and rematerialised, as the paper's run files train (PaLM's test below runs the layer loop).
  layout = dict(num_encoder_layers=1, num_decoder_layers=1, scan_layers=True, remat_policy="full")
  blocks = tiny_model(attention_block_size=8, **layout)  # encoder and cross attention: 4 tiles; decoder: 2
  assert_same_training(tiny_model(**layout), blocks, DEMO_LENGTHS, batch)


def test_dots_saveable_saves_no_tile_of_the_scores():
  """Under remat dots_saveable, the policy of T5's dots runs, blocks keep no (batch, heads, q, block) f32 array for
  the backward (a scan's tiles would be saved: all the scores), and train as whole attention does."""
  batch = _packed_t5_batch()
  layout = dict(num_encoder_layers=1, num_decoder_layers=1, scan_layers=True, remat_policy="dots_saveable")
  whole, blocks = tiny_model(**layout), tiny_model(attention_block_size=8, **layout)
  params = jax.jit(lambda key: nn.meta.unbox(whole.init(key, DEMO_LENGTHS)))(jax.random.key(0))

  def saved(model):
    """The f32 residuals' shapes, and the loss and gradients through the backward that keeps them."""
    loss, backward = jax.vjp(jax.jit(lambda p: model.loss_sums(p, batch, None)["objective"]), params)
    shapes = {x.shape for x in jax.tree.leaves(backward) if getattr(x, "dtype", None) == jnp.float32}
    return shapes, loss, backward(jnp.ones_like(loss))[0]

  rows, heads = 2, 4
  whole_shapes, expected_loss, expected = saved(whole)
  # The check can fail: whole attention under dots_saveable keeps its (batch, heads, q, k) f32 logits.
  assert {(rows, heads, 32, 32), (rows, heads, 16, 32)} <= {shape[-4:] for shape in whole_shapes}
  block_shapes, loss, grads = saved(blocks)
  tiles = {(rows, heads, queries, 8) for queries in (32, 16)}  # encoder and cross attention; decoder self: 2 tiles
  assert not tiles & {shape[-4:] for shape in block_shapes}, sorted(block_shapes)
  assert not {(rows, heads, 32, 32), (rows, heads, 16, 32)} & {shape[-4:] for shape in block_shapes}
  np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
  for (path, e), g in zip(jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(grads)):
    np.testing.assert_allclose(g, e, rtol=2e-4, atol=2e-6, err_msg=jax.tree_util.keystr(path))


def test_palm_trains_the_same_with_blocks():
  lengths = {"inputs": 12, "targets": 8}
  config = dict(vocab_size=384, emb_dim=64, num_heads=4, head_dim=16, mlp_dim=256, num_layers=1)

  def model(block_size):
    return DecoderOnlyModel(palm.PaLMConfig(**config, attention_block_size=block_size), seqio.ByteVocabulary())

  rng = np.random.default_rng(0)
  tokens = rng.integers(3, 300, (2, 20)).astype(np.int32)
  tokens[1, 15:] = 0  # padding
  causal = np.zeros((2, 20), np.int32)
  causal[:, :9] = 1  # the input prefix
  batch = {"decoder_target_tokens": tokens, "decoder_input_tokens": np.roll(tokens, 1, axis=1),
           "decoder_causal_attention": causal, "decoder_loss_weights": ((tokens > 0) & (causal == 0)).astype(np.int32)}
  assert_same_training(model(0), model(5), lengths, batch)  # 20 keys in 4 tiles
