"""`flanx bench eval`: MMLU-format rank-classification scoring, examples/s, T5-small shapes, random init.

An MMLU question is scored as rank classification: its prompt paired with each of the four answers
"(A)".."(D)", one row per answer, one forward pass per batch of rows (flanx.decoding.Decoder.score).
"""

import argparse
import time
from collections.abc import Sequence

import numpy as np

from flanx import errors  # light: jax, seqio and the model once the flags are known to be usable

CHOICES = ("(A)", "(B)", "(C)", "(D)")


def main(argv: Sequence[str]) -> int:
  parser = argparse.ArgumentParser(prog="flanx bench eval", description=__doc__.splitlines()[0])
  parser.add_argument("--questions", type=int, default=8, help="questions per batch (4 rows each)")
  parser.add_argument("--input_length", type=int, default=512)
  parser.add_argument("--batches", type=int, default=3)
  args = parser.parse_args(list(argv))
  for name in ("questions", "input_length", "batches"):
    errors.positive_int(f"--{name}", getattr(args, name))
  import jax

  from flanx import decoding
  from flanx.bench.small_t5 import partitioned, small_model
  model = small_model()
  vocabulary = model.vocabulary
  answers = [list(vocabulary.encode(c)) + [1] for c in CHOICES]  # EOS id 1 closes each target
  target_length = max(len(a) for a in answers)
  lengths = {"inputs": args.input_length, "targets": target_length}
  partitioner, params = partitioned(model, lengths)
  rows = args.questions * len(CHOICES)
  rng = np.random.default_rng(0)
  prompts = np.repeat(rng.integers(3, 259, (args.questions, args.input_length), dtype=np.int32), len(CHOICES), 0)
  targets = decoding.token_rows([answers[r % len(CHOICES)] for r in range(rows)], target_length)
  batch = decoding.teacher_forced(model, prompts, targets)
  decoder = decoding.Decoder.for_model(model, partitioner, lengths)
  decoder.score(params, batch)  # compile
  start = time.perf_counter()
  for _ in range(args.batches):
    picks = decoder.score(params, batch).reshape(args.questions, len(CHOICES)).argmax(-1)
  seconds = (time.perf_counter() - start) / args.batches
  print(f"T5 v1.1 Small shapes ({model.num_params(params) / 1e6:.1f}M parameters, random init, float32) on "
        f"{jax.device_count()} {jax.devices()[0].platform} device(s); prompts {args.input_length} tokens, "
        f"answers {target_length} tokens, {args.questions} questions x {len(CHOICES)} choices per batch")
  print(f"  rank classification: {args.questions / seconds:.1f} examples/s ({rows / seconds:.1f} scored rows/s, "
        f"{seconds:.2f} s per batch; picks {''.join('ABCD'[p] for p in picks)})")
  return 0
