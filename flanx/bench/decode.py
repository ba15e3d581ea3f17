"""`flanx bench decode`: greedy tokens/s with and without the KV cache, T5-small shapes, random initialisation.

The baseline is `uncached_greedy`, which reruns the whole decoder over the prefix at every step (the
tests also use it as the reference that cached decoding must match token for token); both are timed in
this process, after compilation, on the same inputs. EOS is disabled so that every
row decodes the full length in both. `--against hf` also times transformers' `generate` (greedy, KV cache)
on the same weights, converted through flanx's HF conversion table, and the same inputs.
"""

import argparse
import dataclasses
import functools
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import seqio

from flanx.errors import FlanxError


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


def _timed(fn, repeats: int) -> float:
  jax.block_until_ready(fn())  # compile
  start = time.perf_counter()
  for _ in range(repeats):
    jax.block_until_ready(fn())
  return (time.perf_counter() - start) / repeats


def main(argv: Sequence[str]) -> int:
  parser = argparse.ArgumentParser(prog="flanx bench decode", description=__doc__.splitlines()[0])
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--input_length", type=int, default=128)
  parser.add_argument("--output_length", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--against", choices=("hf",), default=None,
                      help="also time Hugging Face `generate` (greedy, KV cache) with the same weights")
  args = parser.parse_args(list(argv))
  if min(args.batch_size, args.input_length, args.output_length, args.repeats) <= 0:
    raise FlanxError("--batch_size, --input_length, --output_length and --repeats must be positive")
  from flanx import decoding
  model = small_model()
  lengths = {"inputs": args.input_length, "targets": args.output_length}
  partitioner, params = partitioned(model, lengths)
  inputs = np.asarray(jax.random.randint(jax.random.key(1), (args.batch_size, args.input_length), 3, 259), np.int32)
  decoder = decoding.Decoder.for_model(model, partitioner, lengths)
  uncached = jax.jit(functools.partial(uncached_greedy, model), static_argnums=2)
  cached_s = _timed(lambda: decoder.generate(params, inputs, args.output_length).tokens, args.repeats)
  with partitioner.context():
    uncached_s = _timed(lambda: uncached(params, inputs, args.output_length), args.repeats)
  same = np.array_equal(decoder.generate(params, inputs, args.output_length).tokens[:, 0],
                        np.asarray(uncached(params, inputs, args.output_length)))
  tokens = args.batch_size * args.output_length
  print(f"T5 v1.1 Small shapes ({model.num_params(params) / 1e6:.1f}M parameters, random init, float32) on "
        f"{jax.device_count()} {jax.devices()[0].platform} device(s); batch {args.batch_size}, "
        f"inputs {args.input_length}, greedy outputs {args.output_length} tokens")
  print(f"  KV cache             {tokens / cached_s:9.1f} tokens/s  ({cached_s:.2f} s per batch)")
  print(f"  no cache (baseline)  {tokens / uncached_s:9.1f} tokens/s  ({uncached_s:.2f} s per batch)")
  print(f"  cache / no cache: {uncached_s / cached_s:.1f}x; identical tokens: {same}")
  if args.against == "hf":
    _against_hf(model, params, inputs, args, decoder.generate(params, inputs, args.output_length).tokens[:, 0],
                cached_s)
  return 0


def _against_hf(model, params, inputs: np.ndarray, args, flanx_tokens: np.ndarray, cached_s: float) -> None:
  """Times transformers' greedy `generate` on the same weights (converted through flanx.hf) and inputs."""
  from flanx.bench import hf_baseline
  print("[bench decode] converting the weights and timing Hugging Face generate ...", flush=True)
  hf = hf_baseline.hf_model(model.config, jax.device_get(params))
  hf_s = hf_baseline.greedy_seconds(hf, inputs, args.output_length, args.repeats)
  hf_tokens = hf_baseline.greedy(hf, inputs, args.output_length)
  tokens = args.batch_size * args.output_length
  # float32 on both sides, but different summation orders: a near-tie can flip a later token.
  agree = float(np.mean(hf_tokens == np.asarray(flanx_tokens)))
  print(f"  HF generate          {tokens / hf_s:9.1f} tokens/s  ({hf_s:.2f} s per batch, torch "
        f"{hf_baseline.torch_threads()} threads, greedy, KV cache)")
  print(f"  flanx KV cache / HF generate: {hf_s / cached_s:.2f}x; tokens equal to flanx's: {agree:.1%}")
