"""KV-cached decoding against uncached decoding, scoring against a plain forward pass, sampling and beams."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import DEMO_LENGTHS, demo_batches, tiny_model
from flanx import decoding, partitioning
from flanx.bench.small_t5 import uncached_greedy
from flanx.optimizer import OptimizerConfig
from flanx.trainer import Trainer

MAX_LENGTH = 12


def _trainer(model, num_partitions=2):
  partition = partitioning.PartitionConfig(num_partitions=num_partitions)
  return Trainer(model, OptimizerConfig(learning_rate=1e-2), partitioning.Partitioner(partition), DEMO_LENGTHS)


@pytest.fixture(scope="module")
def setup():
  model = tiny_model()
  trainer = _trainer(model)
  return model, trainer, trainer.init_state(jax.random.key(0)).params


def _inputs(rows=5, seed=1):
  x = jax.random.randint(jax.random.key(seed), (rows, DEMO_LENGTHS["inputs"]), 3, 259)
  return np.asarray(x.at[:, 10 + seed:].set(0), np.int32)


def _uncached(model, params, inputs):
  fn = jax.jit(functools.partial(uncached_greedy, model), static_argnums=2)
  return np.asarray(fn(jax.device_get(params), inputs, MAX_LENGTH))


def test_cached_greedy_equals_uncached_random_init(setup):
  model, trainer, params = setup
  out = decoding.Decoder.from_trainer(trainer).generate(params, _inputs(), MAX_LENGTH)
  np.testing.assert_array_equal(out.tokens[:, 0], _uncached(model, params, _inputs()))


def test_cached_greedy_equals_uncached_after_training(setup):
  model, trainer, _ = setup
  state = trainer.init_state(jax.random.key(3))
  for batch in demo_batches(4, batch_size=8):
    state, _ = trainer.train_step(state, batch, jax.random.key(0))
  inputs = demo_batches(1, batch_size=8, pack=False, seed=5)[0]["encoder_input_tokens"]
  out = decoding.Decoder.from_trainer(trainer).generate(state.params, inputs, MAX_LENGTH)
  np.testing.assert_array_equal(out.tokens[:, 0], _uncached(model, state.params, inputs))


def test_cached_greedy_with_scanned_layers():
  model = tiny_model(scan_layers=True)
  params = nn.meta.unbox(model.init(jax.random.key(0), DEMO_LENGTHS))
  tokens, _ = jax.jit(lambda p, x: decoding.sample_tokens(model, p, x, MAX_LENGTH, decoding.Sampling(),
                                                          jax.random.key(0)))(params, _inputs())
  np.testing.assert_array_equal(np.asarray(tokens), _uncached(model, params, _inputs()))


def _score_batch(rows=4):
  targets = np.array(jax.random.randint(jax.random.key(7), (rows, 9), 3, 259), np.int32)
  targets[:, -3:] = 0
  targets[1, 4:] = 0
  return {"encoder_input_tokens": _inputs(rows), "decoder_target_tokens": targets,
          "decoder_input_tokens": np.pad(targets[:, :-1], ((0, 0), (1, 0))),
          "decoder_loss_weights": (targets > 0).astype(np.int32)}


def test_score_equals_sum_of_token_log_probs(setup):
  model, trainer, params = setup
  batch = _score_batch()
  got = decoding.Decoder.from_trainer(trainer).score(params, batch)
  host = jax.device_get(params)
  log_probs = np.asarray(jax.nn.log_softmax(jax.jit(model.logits)(host, batch).astype(jnp.float32)))
  expected = [sum(log_probs[r, t, batch["decoder_target_tokens"][r, t]] for t in range(9)
                  if batch["decoder_loss_weights"][r, t]) for r in range(4)]
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  # The same log-likelihoods, teacher-forced one token at a time through the KV cache.
  cache = jax.jit(model.init_cache, static_argnums=2)(host, jnp.asarray(batch["encoder_input_tokens"]), 9)
  decode_step = jax.jit(model.decode_step)  # eager flax apply is slow; one compiled step serves every position
  cached = np.zeros(4)
  for t in range(9):
    logits, cache = decode_step(host, cache, jnp.asarray(batch["decoder_input_tokens"][:, t]), jnp.int32(t))
    lp = np.asarray(jax.nn.log_softmax(logits))[np.arange(4), batch["decoder_target_tokens"][:, t]]
    cached += lp * batch["decoder_loss_weights"][:, t]
  np.testing.assert_allclose(cached, expected, rtol=1e-4)


def test_top_k_1_sampling_and_beam_1_equal_greedy(setup):
  _, trainer, params = setup
  decoder = decoding.Decoder.from_trainer(trainer)
  greedy = decoder.generate(params, _inputs(), MAX_LENGTH)
  sampled = decoder.generate(params, _inputs(), MAX_LENGTH, decoding.Sampling(temperature=1.5, top_k=1), num_samples=3)
  for i in range(3):
    np.testing.assert_array_equal(sampled.tokens[:, i], greedy.tokens[:, 0])
  beam = decoder.beam_search(params, _inputs(), MAX_LENGTH, beam_size=1, alpha=0.0)
  np.testing.assert_array_equal(beam.tokens, greedy.tokens)
  np.testing.assert_allclose(beam.scores, greedy.scores, rtol=1e-5)


def test_sampling_differs_and_beams_rank_by_score(setup):
  _, trainer, params = setup
  decoder = decoding.Decoder.from_trainer(trainer)
  sampled = decoder.generate(params, _inputs(), MAX_LENGTH, decoding.Sampling(temperature=1.0), num_samples=2)
  assert not np.array_equal(sampled.tokens[:, 0], sampled.tokens[:, 1])
  beams = decoder.beam_search(params, _inputs(), MAX_LENGTH, beam_size=4, alpha=0.0)
  assert np.all(np.diff(beams.scores, axis=1) <= 1e-6)
  # Each beam's score is the model's log-likelihood of exactly the tokens it returns (up to its EOS).
  # (Beam search need not beat greedy: the greedy prefix can be pruned before it finishes.)
  inputs = _inputs()
  for j in range(4):
    targets = np.asarray(beams.tokens[:, j], np.int32)
    batch = {"encoder_input_tokens": inputs, "decoder_target_tokens": targets,
             "decoder_input_tokens": np.pad(targets[:, :-1], ((0, 0), (1, 0))),
             "decoder_loss_weights": (targets > 0).astype(np.int32)}
    np.testing.assert_allclose(decoder.score(params, batch), beams.scores[:, j], rtol=1e-4, atol=1e-4)


def test_filter_logits_top_p_keeps_the_nucleus():
  logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
  kept = np.asarray(decoding.filter_logits(logits, top_k=0, top_p=0.7)) > decoding.NEG_INF / 2
  np.testing.assert_array_equal(kept, [[True, True, False, False]])
  kept = np.asarray(decoding.filter_logits(logits, top_k=3, top_p=1.0)) > decoding.NEG_INF / 2
  np.testing.assert_array_equal(kept, [[True, True, True, False]])


class _EosAt:
  """A stand-in model whose argmax is EOS at output position `stop`, and token 7 before it."""

  def __init__(self, stop):
    self.stop, self.decoder_start_id = stop, 0
    self.vocabulary = type("V", (), {"eos_id": 1})()

  def init_cache(self, params, inputs, max_length):
    return jnp.zeros(inputs.shape[0])

  def decode_step(self, params, cache, tokens, position):
    best = jnp.where(position == self.stop, 1, 7)
    return jax.nn.one_hot(jnp.full(tokens.shape, best), 10) * 5.0, cache + 1

  def reorder_cache(self, cache, indices):
    return cache[indices]


def test_decoding_stops_at_eos():
  model = _EosAt(stop=3)
  tokens, _ = decoding.sample_tokens(model, None, jnp.ones((2, 4), jnp.int32), 8, decoding.Sampling(),
                                     jax.random.key(0))
  np.testing.assert_array_equal(np.asarray(tokens), [[7, 7, 7, 1, 0, 0, 0, 0]] * 2)
  beams, _ = decoding.beam_search(model, None, jnp.ones((2, 4), jnp.int32), 8, beam_size=2, alpha=0.6)
  np.testing.assert_array_equal(np.asarray(beams)[:, 0], [[7, 7, 7, 1, 0, 0, 0, 0]] * 2)
  assert decoding.trim([7, 7, 1, 0], 1) == [7, 7]


def test_token_rows_pads_cuts_and_fills_a_fixed_batch():
  out = decoding.token_rows([[5, 6, 7], [8], np.array([9, 10, 11, 12])], width=3, num_rows=4)
  assert out.dtype == np.int32
  np.testing.assert_array_equal(out, [[5, 6, 7], [8, 0, 0], [9, 10, 11], [0, 0, 0]])
  np.testing.assert_array_equal(decoding.token_rows([[1, 2], [3]]), [[1, 2], [3, 0]])  # width: the longest row
