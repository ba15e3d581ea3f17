"""T5 v1.1 Small's shapes at random initialisation, for `flanx bench decode` and `bench eval`; and the uncached
greedy decoder that `bench decode` times as its baseline (the tests' reference for cached decoding too).

Apart from the benchmarks' command lines so that their --help and flag mistakes answer before jax and seqio
are imported (as flanx/convert_cli.py is apart from flanx/convert.py).
"""

import dataclasses

import jax
import jax.numpy as jnp
import seqio


class _NoEos(seqio.ByteVocabulary):
  """Ids as bytes, but no id ends a sequence: a random model must not stop early in one path only."""

  @property
  def eos_id(self):
    return -1


def small_model(model_gin: str = "models/t5_1_1/small.gin"):
  """T5 v1.1 Small's shapes from its gin file, float32 activations (CPU), random initialisation."""
  from flanx import gin_config
  from flanx.models import EncoderDecoderModel
  gin_config.parse([model_gin], ["ACTIVATION_DTYPE = 'float32'", "VOCABULARY = @vocab.byte()"])
  return dataclasses.replace(gin_config.gin.get_configurable(EncoderDecoderModel)(), vocabulary=_NoEos())


def uncached_greedy(model, params, encoder_input_tokens: jax.Array, max_length: int) -> jax.Array:
  """Greedy decoding of an EncoderDecoderModel by full recomputation of the decoder at each step, no cache.

  Returns (batch, max_length) token ids, 0 after EOS. Jit it with static_argnums=(0, 3).
  """
  module = model.module
  eos = model.vocabulary.eos_id
  encoded = module.apply({"params": params}, encoder_input_tokens, method=module.encode)
  batch = encoder_input_tokens.shape[0]

  def step(i, state):
    tokens, done = state
    decoder_inputs = jnp.concatenate([jnp.full((batch, 1), model.decoder_start_id, jnp.int32), tokens[:, :-1]],
                                     axis=1)
    logits = module.apply({"params": params}, encoded, encoder_input_tokens, decoder_inputs, method=module.decode)
    next_token = jnp.where(done, 0, jnp.argmax(logits[:, i], axis=-1).astype(jnp.int32))
    return tokens.at[:, i].set(next_token), done | (next_token == eos)

  tokens = jnp.zeros((batch, max_length), jnp.int32)
  tokens, _ = jax.lax.fori_loop(0, max_length, step, (tokens, jnp.zeros((batch,), bool)))
  return tokens


def partitioned(model, lengths):
  """A default Partitioner and `model`'s freshly initialised parameters laid out on it."""
  from flanx import partitioning
  partitioner = partitioning.Partitioner()
  return partitioner, partitioner.init_params(model, lengths, jax.random.key(0))
