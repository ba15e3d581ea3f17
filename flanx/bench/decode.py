"""`flanx bench decode`: greedy tokens/s with and without the KV cache, T5-small shapes, random initialisation.

The baseline is `small_t5.uncached_greedy`, which reruns the whole decoder over the prefix at every step (the
tests also use it as the reference that cached decoding must match token for token); both are timed in
this process, after compilation, on the same inputs. EOS is disabled so that every
row decodes the full length in both. `--against hf` also times transformers' `generate` (greedy, KV cache)
on the same weights, converted through flanx's HF conversion table, and the same inputs.
"""

import argparse
import functools
import time
from collections.abc import Sequence

import numpy as np

from flanx import errors  # light: jax, seqio and the model once the flags are known to be usable


def _timed(fn, repeats: int) -> float:
  import jax
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
  for name in ("batch_size", "input_length", "output_length", "repeats"):
    errors.positive_int(f"--{name}", getattr(args, name))
  import jax

  from flanx import decoding
  from flanx.bench.small_t5 import partitioned, small_model, uncached_greedy
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
  import jax
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
