"""Decoding and scoring for any model with a KV-cache interface, jitted and sharded like training.

    decoder = Decoder.for_model(model, partitioner, feature_lengths)  # the partitioner's mesh, rules, shardings
    out = decoder.generate(params, inputs, max_length)  # greedy; temperature/top_k/top_p/num_samples sample
    out = decoder.beam_search(params, inputs, max_length, beam_size=4, alpha=0.6)
    ll = decoder.score(params, batch)                   # summed log-likelihood of each row's targets

The model interface is flanx.models.interface.Model (both EncoderDecoderModel and DecoderOnlyModel implement
it); decoding uses these names of it:
  vocabulary            seqio vocabulary; its eos_id ends a sequence (0 = pad fills the rest).
  decoder_start_id      the token fed at output position 0.
  init_cache(params, inputs, max_length) -> cache
                        consumes the prompt (batch, input length), int32, 0-padded; the cache (both families:
                        a flanx.models.kv_cache.KVCache) holds room for `max_length` output positions.
  decode_step(params, cache, tokens, position) -> (logits, cache)
                        feeds `tokens` (batch,) at output position `position` (a traced int32 scalar, 0 being
                        decoder_start_id) and returns float logits (batch, vocab) for the token at that position.
  reorder_cache(cache, indices) -> cache
                        the cache's rows taken in `indices` order (batch,) (beam search).
  score(params, batch) -> (batch,)
                        summed log-likelihood of the weighted targets of a feature-converted batch (one
                        plain forward pass: rank classification needs no decoding loop).
Outputs are (batch, num, max_length) token ids, 0 after the first EOS (which is kept), and a score per
sequence: the summed log-probability of its tokens (for beam search, that divided by the length penalty for
finished sequences; see beam_search).
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import seqio

from flanx import partitioning
from flanx.errors import FlanxError
from flanx.models.interface import Model

NEG_INF = -1e10  # finite, so masked logits never produce NaN

# XLA:CPU options for the compiled decoding loops (greedy, sampling, beam search), not for scoring or training.
# A decoding step is a chain of skinny (batch x 512) by (512 x n) products; with XLA:CPU's YNNPACK fusions
# off, greedy decoding of T5 v1.1 Small at batch 8 ran about 10% faster, same tokens (docs/performance.md).
# Training keeps the defaults: YNNPACK off slowed its step.
CPU_DECODING_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@dataclasses.dataclass(frozen=True)
class Sampling:
  """temperature 0 is greedy; top_k 0 and top_p 1.0 switch those filters off."""
  temperature: float = 0.0
  top_k: int = 0
  top_p: float = 1.0

  def __post_init__(self):
    if self.temperature < 0 or self.top_k < 0 or not 0.0 < self.top_p <= 1.0:
      raise FlanxError(f"sampling needs temperature >= 0, top_k >= 0 and 0 < top_p <= 1; got {self}")


@dataclasses.dataclass(frozen=True)
class Decoded:
  tokens: np.ndarray  # (batch, num, max_length) int32
  scores: np.ndarray  # (batch, num) float32


# --- pure, jittable functions ------------------------------------------------------------------------------

def filter_logits(logits: jax.Array, top_k: int, top_p: float) -> jax.Array:
  """Logits outside the top k, or outside the smallest set whose probability reaches top_p, set to NEG_INF."""
  if top_k:
    kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
    logits = jnp.where(logits < kth, NEG_INF, logits)
  if top_p < 1.0:
    order = jnp.argsort(-logits, axis=-1)
    sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # probability mass ahead of each token; the first always stays
    sorted_logits = jnp.where(before >= top_p, NEG_INF, sorted_logits)
    logits = jnp.zeros_like(logits).at[jnp.arange(logits.shape[0])[:, None], order].set(sorted_logits)
  return logits


def sample_tokens(model: Model, params, inputs: jax.Array, max_length: int, sampling: Sampling,
                  rng: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Greedy (temperature 0) or sampled decoding with the KV cache; stops once every row has emitted EOS.

  Returns tokens (batch, max_length) and each row's summed log-probability (at temperature 1).
  """
  batch, eos = inputs.shape[0], model.vocabulary.eos_id
  cache = model.init_cache(params, inputs, max_length)

  def choose(logits, i):
    if sampling.temperature == 0.0:
      return jnp.argmax(logits, axis=-1)
    filtered = filter_logits(logits / sampling.temperature, sampling.top_k, sampling.top_p)
    return jax.random.categorical(jax.random.fold_in(rng, i), filtered, axis=-1)

  def step(state):
    i, tokens, prev, done, score, cache = state
    logits, cache = model.decode_step(params, cache, prev, i)
    logits = logits.astype(jnp.float32)
    token = jnp.where(done, 0, choose(logits, i).astype(jnp.int32))
    token_lp = jnp.take_along_axis(jax.nn.log_softmax(logits), token[:, None], axis=-1)[:, 0]
    score = score + jnp.where(done, 0.0, token_lp)
    return i + 1, tokens.at[:, i].set(token), token, done | (token == eos), score, cache

  def not_finished(state):
    return (state[0] < max_length) & ~jnp.all(state[3])

  start = jnp.full((batch,), model.decoder_start_id, jnp.int32)
  state = (jnp.zeros((), jnp.int32), jnp.zeros((batch, max_length), jnp.int32), start,
           jnp.zeros((batch,), bool), jnp.zeros((batch,), jnp.float32), cache)
  _, tokens, _, _, score, _ = jax.lax.while_loop(not_finished, step, state)
  return tokens, score


def length_penalty(lengths: jax.Array, alpha: float) -> jax.Array:
  """GNMT's ((5 + length) / 6) ** alpha (Wu et al. 2016), as T5X's beam search uses."""
  return ((5.0 + lengths.astype(jnp.float32)) / 6.0) ** alpha


def beam_search(model: Model, params, inputs: jax.Array, max_length: int, beam_size: int,
                alpha: float) -> tuple[jax.Array, jax.Array]:
  """Beam search with the KV cache, as T5X's: returns (batch, beam, max_length) tokens best first, and scores.

  Live and finished hypotheses are kept apart. Each step extends the k live beams, takes the 2k best candidates
  by log-probability, moves those that end in EOS into the finished set (scored log-probability /
  length_penalty(length), the EOS counted) and keeps the k best others live. The finished set keeps its k best.
  The search stops at max_length, or once no live beam can beat the worst finished one. Finished sequences are
  returned first; live ones, with their raw log-probabilities, only fill the slots of a row where fewer than k
  finished (all of them where none did).
  """
  batch, eos, k = inputs.shape[0], model.vocabulary.eos_id, beam_size
  cache = model.init_cache(params, jnp.repeat(inputs, k, axis=0), max_length)
  rows = jnp.arange(batch)[:, None]
  # A live beam's best possible final score: log-probabilities only fall, and the penalty is largest at the end.
  final_penalty = length_penalty(jnp.asarray(max_length), alpha)

  def step(state):
    i, live, live_lp, prev, finished, finished_scores, finished_flags, cache = state
    logits, cache = model.decode_step(params, cache, prev.reshape(-1), i)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32)).reshape(batch, k, -1)
    vocab = log_probs.shape[-1]
    cand_lp, flat = jax.lax.top_k((live_lp[..., None] + log_probs).reshape(batch, -1), 2 * k)
    parent, token = flat // vocab, (flat % vocab).astype(jnp.int32)
    candidates = live[rows, parent].at[:, :, i].set(token)
    ended = token == eos

    # The k best candidates that did not end stay live.
    live_lp, keep = jax.lax.top_k(jnp.where(ended, NEG_INF, cand_lp), k)
    live, prev = candidates[rows, keep], token[rows, keep]
    cache = model.reorder_cache(cache, (rows * k + parent[rows, keep]).reshape(-1))

    # Those that ended join the finished set, length-penalised; the set keeps its k best.
    scores = jnp.where(ended, cand_lp / length_penalty(i + 1, alpha), NEG_INF)
    pool_scores = jnp.concatenate([finished_scores, scores], axis=1)
    finished_scores, best = jax.lax.top_k(pool_scores, k)
    finished = jnp.concatenate([finished, candidates], axis=1)[rows, best]
    finished_flags = jnp.concatenate([finished_flags, ended], axis=1)[rows, best]
    return i + 1, live, live_lp, prev, finished, finished_scores, finished_flags, cache

  def not_finished(state):
    i, _, live_lp, _, _, finished_scores, finished_flags, _ = state
    best_live = jnp.max(live_lp, axis=1) / final_penalty
    worst_finished = jnp.where(jnp.all(finished_flags, axis=1), jnp.min(finished_scores, axis=1), NEG_INF)
    return (i < max_length) & ~jnp.all(worst_finished > best_live)

  # Only beam 0 is live at the start, so the first step does not pick k copies of the same token.
  live_lp = jnp.tile(jnp.array([0.0] + [NEG_INF] * (k - 1), jnp.float32), (batch, 1))
  empty = jnp.zeros((batch, k, max_length), jnp.int32)
  state = (jnp.zeros((), jnp.int32), empty, live_lp, jnp.full((batch, k), model.decoder_start_id, jnp.int32),
           empty, jnp.full((batch, k), NEG_INF, jnp.float32), jnp.zeros((batch, k), bool), cache)
  _, live, live_lp, _, finished, finished_scores, finished_flags, _ = jax.lax.while_loop(not_finished, step, state)
  # Finished sequences first (best first), then as many live ones as the slots left (T5X: filler slots).
  order = jnp.argsort(~finished_flags, axis=1, stable=True)
  num_finished = jnp.sum(finished_flags, axis=1, keepdims=True)
  slot = jnp.arange(k)[None, :]
  from_live = slot >= num_finished
  live_slot = jnp.clip(slot - num_finished, 0, k - 1)
  tokens = jnp.where(from_live[..., None], live[rows, live_slot], finished[rows, order])
  return tokens, jnp.where(from_live, live_lp[rows, live_slot], finished_scores[rows, order])


# --- the sharded, compiled front end -----------------------------------------------------------------------

@dataclasses.dataclass
class Decoder:
  """Compiles decoding for one model on one mesh; takes and returns numpy arrays.

  Rows are padded to a multiple of the data-parallel size so the batch splits evenly over the mesh.
  """
  model: Model
  partitioner: partitioning.Partitioner
  param_shardings: Any
  _compiled: dict = dataclasses.field(default_factory=dict)

  @classmethod
  def for_model(cls, model: Model, partitioner: partitioning.Partitioner,
                feature_lengths: Mapping[str, int]) -> "Decoder":
    """Decodes `model` laid out on `partitioner`'s mesh (parameters sharded as for training)."""
    return cls(model, partitioner, partitioner.param_shardings(model, feature_lengths))

  @classmethod
  def from_trainer(cls, trainer) -> "Decoder":
    """Decodes the live parameters of a training run (held-out evaluation, predictions while training)."""
    return cls(trainer.model, trainer.partitioner, trainer.param_shardings)

  def _jit(self, key, fn, num_batch_args: int, decoding_loop: bool = False):
    if key not in self._compiled:
      rows, whole = self.partitioner.batch_sharding, self.partitioner.replicated
      on_cpu = self.partitioner.mesh.devices.flat[0].platform == "cpu"
      options = CPU_DECODING_COMPILER_OPTIONS if decoding_loop and on_cpu else None
      self._compiled[key] = jax.jit(fn, in_shardings=(self.param_shardings,) + (rows,) * num_batch_args + (whole,),
                                    out_shardings=whole, compiler_options=options)
    return self._compiled[key]

  def _rows_on_mesh(self, x: np.ndarray) -> jax.Array:
    """Host rows, padded to split evenly, as one global array split over the batch axes. Every process holds
    the same full rows (as each process of `flanx eval` reads every example), so each takes its own devices'
    slice: jit refuses host arrays for a sharding that spans other processes' devices."""
    unit = self.partitioner.data_parallel_size
    extra = -len(x) % unit
    rows = np.concatenate([x, np.zeros((extra,) + x.shape[1:], x.dtype)]) if extra else x
    return jax.make_array_from_process_local_data(self.partitioner.batch_sharding, rows, rows.shape)

  def generate(self, params, inputs: np.ndarray, max_length: int, sampling: Sampling = Sampling(),
               num_samples: int = 1, seed: int = 0) -> Decoded:
    """Greedy or sampled outputs: `num_samples` per row of `inputs` (batch, input length)."""
    batch = len(inputs)
    rows = self._rows_on_mesh(np.repeat(np.asarray(inputs, np.int32), num_samples, axis=0))
    fn = self._jit(("sample", max_length, sampling),
                   lambda p, x, rng: sample_tokens(self.model, p, x, max_length, sampling, rng), 1,
                   decoding_loop=True)
    with self.partitioner.context():
      tokens, scores = jax.device_get(fn(params, rows, jax.random.key(seed)))
    n = batch * num_samples
    return Decoded(tokens[:n].reshape(batch, num_samples, -1), scores[:n].reshape(batch, num_samples))

  def beam_search(self, params, inputs: np.ndarray, max_length: int, beam_size: int = 4,
                  alpha: float = 0.6) -> Decoded:
    """The `beam_size` best outputs per row, best first: finished ones with length-penalised scores, then (where
    fewer finished) live ones with their log-probabilities (see beam_search)."""
    if beam_size < 1:
      raise FlanxError(f"beam size must be at least 1, got {beam_size}")
    batch = len(inputs)
    rows = self._rows_on_mesh(np.asarray(inputs, np.int32))
    fn = self._jit(("beam", max_length, beam_size, alpha),
                   lambda p, x, _: beam_search(self.model, p, x, max_length, beam_size, alpha), 1,
                   decoding_loop=True)
    with self.partitioner.context():
      tokens, scores = jax.device_get(fn(params, rows, jnp.zeros((), jnp.int32)))
    return Decoded(tokens[:batch], scores[:batch])

  def score(self, params, batch: Mapping[str, np.ndarray]) -> np.ndarray:
    """Summed log-likelihood of each row's weighted target tokens (model features, e.g. EncDecFeatureConverter's)."""
    names = tuple(sorted(batch))
    num = len(next(iter(batch.values())))
    rows = [self._rows_on_mesh(np.asarray(batch[k])) for k in names]
    fn = self._jit(("score", names),
                   lambda p, *xs: self.model.score(p, dict(zip(names, xs[:-1]))), len(names))
    with self.partitioner.context():
      return np.asarray(jax.device_get(fn(params, *rows, jnp.zeros((), jnp.int32))))[:num]


# --- model features <-> prompts ---------------------------------------------------------------------------

def token_rows(rows: Sequence[Sequence[int]], width: int | None = None, num_rows: int | None = None) -> np.ndarray:
  """Token-id lists as one int32 array (num_rows, width), 0-padded: each row cut to `width` (default: the longest
  row); rows beyond len(rows) are all padding (a fixed batch shape compiles once)."""
  width = width or max((len(r) for r in rows), default=0)
  out = np.zeros((len(rows) if num_rows is None else num_rows, width), np.int32)
  for i, r in enumerate(rows):
    ids = list(r)[:width]
    out[i, :len(ids)] = ids
  return out


def prompt_tokens(batch: Mapping[str, np.ndarray]) -> np.ndarray:
  """The prompts (batch, length), 0-padded, of a feature-converted batch of either model kind.

  Encoder-decoder batches carry them as encoder_input_tokens. A prefix LM's (PrefixLMFeatureConverter) hold
  inputs and targets in one sequence, with decoder_causal_attention marking the inputs plus the slot of the
  first target (the sequence is shifted by one); the full width is kept so every batch compiles once.
  """
  if "encoder_input_tokens" in batch:
    return np.asarray(batch["encoder_input_tokens"], np.int32)
  tokens = np.asarray(batch["decoder_target_tokens"], np.int32)
  num_inputs = np.asarray(batch["decoder_causal_attention"]).sum(axis=1) - 1
  return np.where(np.arange(tokens.shape[1])[None] < num_inputs[:, None], tokens, 0).astype(np.int32)


def teacher_forced(model: Model, inputs: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
  """Model features for scoring `targets` (batch, length) after `inputs` (batch, length), both 0-padded,
  laid out as the model's own feature converter would (so `model.score` takes them)."""
  inputs, targets = np.asarray(inputs, np.int32), np.asarray(targets, np.int32)
  if not isinstance(model.feature_converter(pack=False), seqio.PrefixLMFeatureConverter):
    return {"encoder_input_tokens": inputs, "decoder_target_tokens": targets,
            "decoder_input_tokens": np.pad(targets[:, :-1], ((0, 0), (1, 0))),
            "decoder_loss_weights": (targets > 0).astype(np.int32)}
  batch, width = len(inputs), inputs.shape[1] + targets.shape[1]
  sequence, weights, causal = (np.zeros((batch, width), np.int32) for _ in range(3))
  for row, (x, y) in enumerate(zip(inputs, targets)):
    x, y = x[x > 0], y[y > 0]
    sequence[row, :len(x) + len(y)] = np.concatenate([x, y])
    weights[row, len(x):len(x) + len(y)] = 1
    causal[row, :len(x) + 1] = 1
  return {"decoder_target_tokens": sequence, "decoder_input_tokens": np.pad(sequence[:, :-1], ((0, 0), (1, 0))),
          "decoder_loss_weights": weights, "decoder_causal_attention": causal}


def trim(tokens, eos_id: int) -> list[int]:
  """Token ids up to (not including) the first EOS or padding."""
  out = []
  for t in np.asarray(tokens).tolist():
    if t in (eos_id, 0):
      break
    out.append(t)
  return out


