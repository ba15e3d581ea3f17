"""`flanx bench data MIXTURE`: input-pipeline examples/s, tokens/s, packing efficiency and resume seek time.

Runs the mixture through seqio.EncDecFeatureConverter at inputs 2048 / targets 512, packed, and reports the
same figures unpacked as the baseline measured in the same run. The seek figure is what a restart pays to
reach its saved data position (flanx/input/position.py): the time to the first row after skipping `rows` rows,
less the time to the first row of a fresh pipeline.

With --cache DIR it also reads the mixture's data cache (`flanx data cache`, written to DIR first when DIR has
none) with the Grain reader, and prints its examples/s and tokens/s as a ratio to seqio's, and the seconds a
restart takes to restore the reader at steps 0, 10,000 and 1,000,000 (8 packed rows a step), beside seqio's
replay of 10,000 steps extrapolated from its measured seek rate.
"""

import argparse
import time
from collections.abc import Sequence

import numpy as np

from flanx.errors import FlanxError

LENGTHS = {"inputs": 2048, "targets": 512}


def _dataset(mixture: str, pack: bool, seed: int):
  import seqio
  from flanx import inspect
  return seqio.get_dataset(inspect.get(mixture).name, LENGTHS, dataset_split="train", shuffle=True, num_epochs=None,
                           seed=seed, feature_converter=seqio.EncDecFeatureConverter(pack=pack))


def measure(mixture: str, pack: bool, rows: int, seed: int = 0) -> dict[str, float]:
  """Time `rows` converted rows (after `rows` untimed ones); returns examples/s, tokens/s, non-padding fraction."""
  from flanx import inspect
  with inspect._quiet():
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
  from flanx import inspect

  def first_row(skip: int) -> float:
    start = time.perf_counter()
    with inspect._quiet():
      next(_dataset(mixture, True, seed).skip(skip).as_numpy_iterator())
    return time.perf_counter() - start

  first_row(0)  # warm caches shared by both timings (vocabulary, file system)
  return max(first_row(rows) - first_row(0), 0.0)


SEEK_STEPS = (0, 10_000, 1_000_000)


def measure_cache(directory: str, pack: bool, rows: int, local_batch: int = 8) -> dict[str, float]:
  """The data cache read with Grain (flanx/input/cache_reader.py): the same figures as `measure`."""
  from flanx.input import cache_reader
  spec = cache_reader.CacheSpec(directory, LENGTHS, pack)
  reader = cache_reader.CachedBatches(spec, local_batch)
  batches = -(-rows // local_batch)
  for _ in range(batches):  # untimed: start-up, and whatever the prefetch thread buffered meanwhile is drained
    next(reader)
  start = time.perf_counter()
  examples = tokens = slots = 0
  for _ in range(batches):
    batch = next(reader)
    inputs, targets = batch["encoder_input_tokens"], batch["decoder_target_tokens"]
    examples += int(batch["encoder_segment_ids"].max(axis=1).sum()) if pack else len(inputs)
    tokens += int(np.count_nonzero(inputs) + np.count_nonzero(targets))
    slots += inputs.size + targets.size
  seconds = time.perf_counter() - start
  reader.close()
  return {"examples/s": examples / seconds, "tokens/s": tokens / seconds, "efficiency": tokens / slots,
          "rows": batches * local_batch, "seconds": seconds, "examples_per_row": examples / (batches * local_batch)}


def cache_seek_seconds(directory: str, step: int, examples_per_row: float, local_batch: int = 8) -> float:
  """Seconds from a fresh reader to its first batch at the position of `step` (restored, not replayed).

  The position is where `step` batches of `local_batch` packed rows would end, from the measured examples per
  row; the work of a restore does not depend on it (one chunk is repacked), which is what this shows."""
  from flanx.input import cache_reader
  spec = cache_reader.CacheSpec(directory, LENGTHS, True)
  examples = int(step * local_batch * examples_per_row)
  start = time.perf_counter()
  reader = cache_reader.CachedBatches(spec, local_batch)
  reader.restore({"start": examples - examples % spec.chunk, "row": 0})
  next(reader)
  seconds = time.perf_counter() - start
  reader.close()
  return seconds


def bench_cache(mixture: str, directory: str, rows: int, cache_examples: int, seqio_packed: dict,
                seqio_rows_per_second: float | None) -> None:
  """Writes the cache when `directory` has none, then prints its reading rate against seqio's and seek times."""
  import pathlib
  from flanx.input import data_cache
  if not (pathlib.Path(directory) / data_cache.MANIFEST).is_file():
    print(f"flanx bench data: writing {cache_examples:,} examples of {mixture} to {directory} ...", flush=True)
    data_cache.write(mixture, directory, cache_examples, progress=True)
  manifest = data_cache.Manifest.read(directory)
  print(f"flanx bench data: reading the cache {pathlib.Path(directory).resolve()} ({manifest.mixture}, "
        f"{manifest.examples:,} examples) ...", flush=True)
  cached = measure_cache(directory, True, rows)
  print(f"  {'cache, packed':<20} {cached['examples/s']:9.1f} examples/s  {cached['tokens/s']:11.0f} tokens/s  "
        f"packing efficiency {cached['efficiency']:.3f}")
  print(f"  cache / seqio (packed): {cached['tokens/s'] / seqio_packed['tokens/s']:.2f}x tokens/s")
  seeks = {}
  for step in SEEK_STEPS:
    print(f"flanx bench data: restoring the cache reader at step {step:,} ...", flush=True)
    seeks[step] = cache_seek_seconds(directory, step, cached["examples_per_row"])
  print("  resume seek (cache, restored): " + ", ".join(
      f"step {step:,} {seconds:.3f} s ({seconds / seeks[0]:.2f}x step 0)" for step, seconds in seeks.items()))
  if seqio_rows_per_second:
    replay = 10_000 * 8 / seqio_rows_per_second
    print(f"  resume seek (seqio, replayed) at step 10,000: about {replay:,.0f} s at the measured seek rate, "
          f"{replay / seeks[10_000]:,.0f}x the cache's restore")


def main(argv: Sequence[str]) -> int:
  parser = argparse.ArgumentParser(prog="flanx bench data", description=__doc__.splitlines()[0])
  parser.add_argument("mixture", help="e.g. flan2022_mini")
  parser.add_argument("--rows", type=int, default=200, help="converted rows (packed sequences) to time")
  from flanx import data_dir  # light; flanx.vocab (seqio, TensorFlow) once the flags are known to be usable
  parser.add_argument("--vocab", choices=data_dir.VOCAB_CHOICES, default="auto",
                      help="auto: DATA_DIR/vocab/spiece.model when present, else bytes")
  given_dir, argv = data_dir.split_argv(argv)  # --gin.DATA_DIR, as for the gin commands
  parser.add_argument("--cache", help="also read this data cache with Grain (written there first if absent)")
  parser.add_argument("--cache-examples", type=int, default=20_000, help="examples to write when --cache is absent")
  args = parser.parse_args(list(argv))
  if args.rows <= 0:
    raise FlanxError("--rows must be positive")
  if args.cache is not None and (not args.cache.strip() or args.cache_examples <= 0):
    raise FlanxError("--cache needs a directory and --cache-examples a positive count")
  from flanx import vocab
  _, which = vocab.install_for_command(given_dir, args.vocab)
  print(f"flanx bench data: timing {args.rows} packed, then unpacked rows of {args.mixture} through seqio ...",
        flush=True)
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
    print(f"  resume seek past {args.rows} packed rows: {seek:.3f} s ({args.rows / seek:.1f} rows/s, "
          f"{packed['seconds'] / seek:.2f}x the reading rate)")
  if args.cache is not None:
    bench_cache(args.mixture, args.cache, args.rows, args.cache_examples, packed,
                args.rows / seek if seek >= 0.05 else None)
  return 0
