"""Beam search on hand-built logits: T5X's decoding_test.py case, and cases where keeping finished hypotheses
apart (T5X) and sharing the k slots between finished and live beams (flanx before issue 22) disagree."""

import jax.numpy as jnp
import numpy as np
import pytest

from flanx import decoding

EOS = 1


class _Table:
  """A stand-in model: the next token's log-probabilities depend only on the output position and the previous
  token, from a (positions, vocab, vocab) table."""

  decoder_start_id = 0

  def __init__(self, table, eos_id=EOS):
    self.table = jnp.asarray(table, jnp.float32)
    self.vocabulary = type("V", (), {"eos_id": eos_id})()

  def init_cache(self, params, inputs, max_length):
    return jnp.zeros(inputs.shape[0])

  def decode_step(self, params, cache, tokens, position):
    return self.table[position][tokens], cache

  def reorder_cache(self, cache, indices):
    return cache[indices]


def _search(table, max_length, beam_size, alpha, eos_id=EOS):
  tokens, scores = decoding.beam_search(_Table(table, eos_id), None, jnp.ones((1, 3), jnp.int32), max_length,
                                        beam_size, alpha)
  return np.asarray(tokens)[0], np.asarray(scores)[0]


def _log(probs):
  return np.log(np.maximum(np.asarray(probs, np.float64), 1e-30))


def test_t5x_markov_chain_case():
  """T5X's test_beam_search: START, then five A/B steps whose edge potentials alternate, then END; the two best
  paths tie and two beams find both."""
  pad, a, b, start, end = range(5)
  neg = -1e7
  ab = np.asarray([[[1, -1], [-1, 1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]], [[-1, 1], [1, -1]]])
  edges = np.full((7, 5, 5), neg)
  edges[0, :, start] = 0  # position 0: START whatever was fed
  edges[1, start, a] = edges[1, start, b] = 0
  edges[2:6, a:b + 1, a:b + 1] = ab
  edges[6, a, end] = edges[6, b, end] = 0
  edges[1:, pad, :] = 0  # as in T5X's test: what follows PAD does not matter
  tokens, scores = _search(edges, 7, beam_size=2, alpha=0.0, eos_id=end)
  names = "_AB<>"
  found = sorted("".join(names[t] for t in row) for row in tokens)
  assert found == ["<AABBA>", "<BBAAB>"]


def _two_step_table(first, then):
  """Position 0: `first` (probabilities over the vocabulary); later positions: `then` whatever came before."""
  vocab = len(first)
  table = np.empty((4, vocab, vocab))
  table[0] = _log(first)[None, :]
  table[1:] = _log(then)[None, None, :]
  return table


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_a_finished_candidate_outside_the_top_k_is_kept(alpha):
  """EOS is the third most likely first token. Sharing two slots pushed it out, and the best returned sequence was
  an unfinished one cut at the length limit; kept apart, the finished [EOS] (log 0.1) beats every longer one."""
  first = [0, 0.1, 0.5, 0.4]  # pad, EOS, a, b
  then = [0, 0.1, 0.9, 0]  # after anything: a (or EOS)
  tokens, scores = _search(_two_step_table(first, then), 2, beam_size=2, alpha=alpha)
  np.testing.assert_array_equal(tokens[0], [EOS, 0])
  np.testing.assert_allclose(scores[0], np.log(0.1), rtol=1e-5)  # length 1: the penalty is 1
  # The runner-up is the best of the other finished sequences, a + EOS, with its length penalty.
  np.testing.assert_array_equal(tokens[1], [2, EOS])
  np.testing.assert_allclose(scores[1], (np.log(0.5) + np.log(0.1)) / ((5 + 2) / 6) ** alpha, rtol=1e-5)
  assert not any(np.array_equal(row, [2, 2]) for row in tokens)  # `a a` (log 0.45) is live, never returned


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_a_finished_sequence_beats_one_cut_at_the_length_limit(alpha):
  """[EOS] (log 0.4) and `a` (log 0.6) share the beam; `a x` (log 0.54) is cut at the length limit without EOS.
  Ranked on raw log-probability it won; T5X returns the finished [EOS], and `a x` nowhere."""
  first = [0, 0.4, 0.6, 0, 0]
  then = [0, 0.05, 0, 0.9, 0.05]  # after anything: x (3) very likely
  tokens, scores = _search(_two_step_table(first, then), 2, beam_size=2, alpha=alpha)
  np.testing.assert_array_equal(tokens[0], [EOS, 0])
  np.testing.assert_allclose(scores[0], np.log(0.4), rtol=1e-5)
  # a + EOS finished second; `a x` is not returned above any finished sequence.
  np.testing.assert_array_equal(tokens[1], [2, EOS])


def test_live_beams_fill_the_slots_no_finished_sequence_took():
  """One sequence finished ([EOS]); the other slot holds the best live beam, with its raw log-probability."""
  first = [0, 0.1, 0.5, 0.4]
  then = [0, 0, 0.6, 0.4]  # EOS never after the first token
  tokens, scores = _search(_two_step_table(first, then), 2, beam_size=2, alpha=0.6)
  np.testing.assert_array_equal(tokens, [[EOS, 0], [2, 2]])
  np.testing.assert_allclose(scores, [np.log(0.1), np.log(0.5 * 0.6)], rtol=1e-5)


def test_unfinished_sequences_only_when_none_finished():
  """No sequence can end within the limit: the live beams come back best first with raw log-probabilities."""
  first = [0, 0, 0.4, 0.3, 0.2, 0.1]  # EOS never; at least 2k other tokens always beat it
  then = [0, 0, 0.5, 0.25, 0.15, 0.1]
  tokens, scores = _search(_two_step_table(first, then), 2, beam_size=2, alpha=0.6)
  np.testing.assert_array_equal(tokens, [[2, 2], [3, 2]])
  np.testing.assert_allclose(scores, [np.log(0.4 * 0.5), np.log(0.3 * 0.5)], rtol=1e-5)
