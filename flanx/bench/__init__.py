"""`flanx bench NAME`: speed measured as ratios against a baseline timed in the same process."""

import importlib
import importlib.util
import sys
from collections.abc import Sequence

BENCHMARKS = {
    "train": "training step tokens/s, seconds/step and MFU",
    "data": "input pipeline examples/s, tokens/s and packing efficiency",
    "decode": "greedy decoding tokens/s with and without the KV cache",
    "eval": "MMLU-format scoring examples/s",
    "blocks": "attention core and gated MLP, forward + backward, against plain autodiff",
    "plan": "flanx plan's predicted step time against measured steps on this machine",
}


def main(argv: Sequence[str]) -> int:
  present = {n: h for n, h in BENCHMARKS.items() if importlib.util.find_spec(f"flanx.bench.{n}")}
  if not argv or argv[0] not in present:
    listing = "\n".join(f"  {n:<8} {h}" for n, h in present.items())
    if argv and argv[0] not in ("-h", "--help"):
      from flanx.errors import closest
      print(f"flanx bench: error: unknown benchmark {argv[0]!r}{closest(argv[0], present)}", file=sys.stderr)
    print(f"usage: flanx bench NAME [args...]\n\nbenchmarks:\n{listing}", file=sys.stderr)
    return 0 if not argv or argv[0] in ("-h", "--help") else 2
  return importlib.import_module(f"flanx.bench.{argv[0]}").main(argv[1:]) or 0
