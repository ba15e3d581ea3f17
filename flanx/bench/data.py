"""`flanx bench data MIXTURE`: input-pipeline examples/s, tokens/s, packing efficiency and resume seek time.

Runs the mixture through seqio.EncDecFeatureConverter at inputs 2048 / targets 512, packed, and reports the
same figures unpacked as the baseline measured in the same run. The seek figure is what a restart pays to
reach its saved data position (data.DataPosition): the time to the first row after skipping `rows` rows,
less the time to the first row of a fresh pipeline.
"""

import argparse
import time
from collections.abc import Sequence

import numpy as np

from flanx.errors import FlanxError

LENGTHS = {"inputs": 2048, "targets": 512}


def _dataset(mixture: str, pack: bool, seed: int):
  import seqio  # noqa: PLC0415
  from flanx import inspect  # noqa: PLC0415
  return seqio.get_dataset(inspect.get(mixture).name, LENGTHS, dataset_split="train", shuffle=True, num_epochs=None,
                           seed=seed, feature_converter=seqio.EncDecFeatureConverter(pack=pack))


def measure(mixture: str, pack: bool, rows: int, seed: int = 0) -> dict[str, float]:
  """Time `rows` converted rows (after `rows` untimed ones); returns examples/s, tokens/s, non-padding fraction."""
  from flanx import inspect  # noqa: PLC0415
  with inspect._quiet():  # noqa: SLF001
    it = _dataset(mixture, pack, seed).as_numpy_iterator()
    # Untimed warm-up of as many rows as are timed: graph building and first-file latency are not
    # throughput, and rows that prefetching produced in the meantime must be drained before timing starts.
    for _ in range(rows):
      next(it)
    start = time.perf_counter()
    examples = tokens = slots = 0
    for row in (next(it) for _ in range(rows)):
      inputs, targets = row["encoder_input_tokens"], row["decoder_target_tokens"]
      examples += int(row["encoder_segment_ids"].max()) if pack else 1
      tokens += int(np.count_nonzero(inputs) + np.count_nonzero(targets))
      slots += inputs.size + targets.size
    seconds = time.perf_counter() - start
  return {"examples/s": examples / seconds, "tokens/s": tokens / seconds, "efficiency": tokens / slots,
          "rows": rows, "seconds": seconds}


def seek_seconds(mixture: str, rows: int, seed: int = 0) -> float:
  """Seconds a restart spends skipping `rows` packed rows, beyond a fresh pipeline's time to its first row."""
  from flanx import inspect  # noqa: PLC0415

  def first_row(skip: int) -> float:
    start = time.perf_counter()
    with inspect._quiet():  # noqa: SLF001
      next(_dataset(mixture, True, seed).skip(skip).as_numpy_iterator())
    return time.perf_counter() - start

  first_row(0)  # warm caches shared by both timings (vocabulary, file system)
  return max(first_row(rows) - first_row(0), 0.0)


def main(argv: Sequence[str]) -> int:
  parser = argparse.ArgumentParser(prog="flanx bench data", description=__doc__.splitlines()[0])
  parser.add_argument("mixture", help="e.g. flan2022_mini")
  parser.add_argument("--rows", type=int, default=200, help="converted rows (packed sequences) to time")
  parser.add_argument("--vocab", choices=("auto", "byte", "sentencepiece"), default="auto",
                      help="auto: DATA_DIR/vocab/spiece.model when present, else bytes")
  from flanx import data_dir, vocab  # noqa: PLC0415
  given_dir, argv = data_dir.split_argv(argv)  # --gin.DATA_DIR, as for the gin commands
  args = parser.parse_args(list(argv))
  if args.rows <= 0:
    raise FlanxError("--rows must be positive")
  context = data_dir.resolve(given_dir)
  vocabulary, which = vocab.for_command(args.vocab, context)
  data_dir.install(context.with_vocabulary(vocabulary))
  packed = measure(args.mixture, pack=True, rows=args.rows)
  unpacked = measure(args.mixture, pack=False, rows=args.rows)
  print(f"{args.mixture} ({which}), inputs {LENGTHS['inputs']} / targets {LENGTHS['targets']}")
  for label, m in (("packed", packed), ("unpacked (baseline)", unpacked)):
    print(f"  {label:<20} {m['examples/s']:9.1f} examples/s  {m['tokens/s']:11.0f} tokens/s  "
          f"packing efficiency {m['efficiency']:.3f}")
  print(f"  packed / unpacked: {packed['tokens/s'] / unpacked['tokens/s']:.2f}x tokens/s, "
        f"{packed['efficiency'] / unpacked['efficiency']:.2f}x efficiency")
  seek = seek_seconds(args.mixture, args.rows)
  if seek < 0.05:
    print(f"  resume seek past {args.rows} packed rows: too quick to time ({seek:.3f} s); use more --rows")
  else:
    print(f"  resume seek past {args.rows} packed rows: {seek:.2f} s ({args.rows / seek:.1f} rows/s, "
          f"{packed['seconds'] / seek:.2f}x the reading rate)")
  return 0
