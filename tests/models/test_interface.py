"""Both model families implement the one model interface, share its loss/score/cache code, and decode with
the KV cache exactly as an uncached forward pass would."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import seqio

from tests.helpers import tiny_model
from flanx import decoding
from flanx.models import DecoderOnlyModel, EncoderDecoderModel, LanguageModel, Model, PaLMConfig
from flanx.models.kv_cache import KVCache

LENGTHS = {"inputs": 10, "targets": 8}


def tiny_palm(**overrides) -> DecoderOnlyModel:
  config = dict(vocab_size=384, emb_dim=32, num_heads=2, head_dim=16, mlp_dim=64, num_layers=2)
  return DecoderOnlyModel(PaLMConfig(**{**config, **overrides}), seqio.ByteVocabulary())


FAMILIES = {"t5": lambda **o: tiny_model(emb_dim=32, num_heads=2, mlp_dim=64, **o), "palm": tiny_palm}


@functools.cache
def _model_and_params(family: str, scan_layers: bool = False):
  model = FAMILIES[family](scan_layers=scan_layers)
  return model, nn.meta.unbox(model.init(jax.random.key(0), LENGTHS))


def _prompts() -> np.ndarray:
  x = np.array(jax.random.randint(jax.random.key(1), (3, LENGTHS["inputs"]), 3, 259), np.int32)
  x[0, 7:], x[1, 3:] = 0, 0  # different prompt lengths in one batch
  return x


def _targets() -> np.ndarray:
  y = np.array(jax.random.randint(jax.random.key(2), (3, LENGTHS["targets"]), 3, 259), np.int32)
  y[0, 5:], y[2, 2:] = 0, 0
  return y


def test_both_families_satisfy_the_protocol():
  for family in FAMILIES:
    model = FAMILIES[family]()
    assert isinstance(model, Model) and isinstance(model, LanguageModel), family


def test_an_object_missing_part_of_the_interface_is_not_a_model():
  class DecodesOnly:  # the names decoding needs, none of training's
    vocabulary, decoder_start_id = seqio.ByteVocabulary(), 0
    init_cache = decode_step = reorder_cache = lambda *a: None

  assert not isinstance(DecodesOnly(), Model)


def test_loss_score_and_parameter_count_are_one_shared_implementation():
  for name in ("loss_sums", "score", "num_params", "reorder_cache", "__post_init__"):
    assert getattr(EncoderDecoderModel, name) is getattr(LanguageModel, name), name
    assert getattr(DecoderOnlyModel, name) is getattr(LanguageModel, name), name
  with pytest.raises(Exception, match="LOSS_NORMALIZING_FACTOR"):
    DecoderOnlyModel(tiny_palm().config, seqio.ByteVocabulary(), loss_normalizing_factor="PER_TOKEN")


def _reference_sums(logits: np.ndarray, targets: np.ndarray, weights: np.ndarray, z_loss: float) -> dict:
  """The loss sums computed from the logits with numpy, in float64."""
  logits = logits.astype(np.float64)
  log_z = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
  target_logit = np.take_along_axis(logits, targets[..., None], -1)[..., 0]
  z = z_loss * log_z ** 2
  return {"objective": ((log_z - target_logit + z) * weights).sum(),
          "cross_entropy": ((log_z - target_logit) * weights).sum(), "z_loss": (z * weights).sum(),
          "correct_tokens": ((logits.argmax(-1) == targets) * weights).sum(),
          "target_tokens": weights.sum(), "score": ((target_logit - log_z) * weights).sum(-1)}


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_sums_and_scores_match_a_reference_from_the_logits(family):
  model, params = _model_and_params(family)
  batch = decoding.teacher_forced(model, _prompts(), _targets())
  logits = np.asarray(jax.jit(model.logits)(params, batch))
  weights = batch["decoder_loss_weights"]
  assert logits.shape[:2] == weights.shape and weights.sum() == (_targets() > 0).sum()
  expected = _reference_sums(logits, batch["decoder_target_tokens"], weights, model.z_loss)
  got = jax.jit(lambda p, b: model.loss_sums(p, b, None))(params, batch)
  for key in ("objective", "cross_entropy", "z_loss", "correct_tokens", "target_tokens"):
    np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=key)
  np.testing.assert_allclose(jax.jit(model.score)(params, batch), expected["score"], rtol=1e-5)
  assert model.num_params(params) == sum(x.size for x in jax.tree.leaves(params))


def _uncached_greedy(model: Model, params, prompts: np.ndarray, max_length: int) -> np.ndarray:
  """Greedy outputs from a full forward pass (model.logits) per position, over the outputs so far; rows
  that emitted EOS are padded with 0 from there on, as decoding does."""
  logits, eos = jax.jit(model.logits), model.vocabulary.eos_id
  out, done = np.zeros((len(prompts), max_length), np.int32), np.zeros(len(prompts), bool)
  for i in range(max_length):
    # Causal attention hides positions >= i from position i's prediction; any real token holds their place.
    so_far = np.where(np.arange(max_length) < i, out, 2)
    batch = decoding.teacher_forced(model, prompts, so_far)
    predicted = np.asarray(logits(params, batch)).argmax(-1)
    # A prefix LM's output i is predicted right after its row's prompt; an encoder-decoder's at position i.
    offset = 0 if "encoder_input_tokens" in batch else (prompts > 0).sum(axis=1)
    out[:, i] = np.where(done, 0, predicted[np.arange(len(prompts)), offset + i])
    done |= out[:, i] == eos
  assert (out[:, :-1] > 0).any(axis=1).all()  # real outputs to compare, not an empty decode
  return out


@pytest.mark.parametrize("scan_layers", [False, True], ids=["loop", "scan"])
@pytest.mark.parametrize("family", FAMILIES)
def test_cached_greedy_and_beam_1_equal_uncached_greedy(family, scan_layers):
  model, params = _model_and_params(family, scan_layers)
  prompts, max_length = _prompts(), 6
  tokens, _ = jax.jit(lambda p, x: decoding.sample_tokens(model, p, x, max_length, decoding.Sampling(),
                                                          jax.random.key(0)))(params, prompts)
  np.testing.assert_array_equal(np.asarray(tokens), _uncached_greedy(model, params, prompts, max_length))
  beams, _ = jax.jit(lambda p, x: decoding.beam_search(model, p, x, max_length, 1, 0.0))(params, prompts)
  np.testing.assert_array_equal(np.asarray(beams)[:, 0], np.asarray(tokens))


@pytest.mark.parametrize("family", FAMILIES)
def test_both_families_decode_with_the_one_kv_cache(family):
  model, params = _model_and_params(family)
  cache = jax.jit(model.init_cache, static_argnums=2)(params, jnp.asarray(_prompts()), 6)
  assert isinstance(cache, KVCache) and cache.batch_axis == 0
  keys = [x for path, x in jax.tree_util.tree_leaves_with_path(cache.layers) if "cached_key" in str(path[-1])]
  assert keys and all(k.shape[0] == 3 for k in keys)
  _, stepped = jax.jit(model.decode_step)(params, cache, jnp.zeros(3, jnp.int32), jnp.int32(1))
  assert isinstance(stepped, KVCache) and jax.tree.structure(stepped) == jax.tree.structure(cache)
