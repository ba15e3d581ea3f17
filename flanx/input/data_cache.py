r"""`flanx data cache MIXTURE`: a mixture's tokenized examples, written once to ArrayRecord shards.

  flanx data cache flan2022_mini --examples 100000 --out /data/cache/flan2022_mini

The examples are the mixture's stream as seqio produces it for training (shuffled, mixed at the mixture's
rates, tokenized, EOS appended, not yet trimmed, packed or padded): the first --examples of it for --seed.
The seqio tasks and mixtures stay the definitions; the cache is how a pod reads them (flanx/input/cache_reader.py:
each data shard its own records, positions restored without replay). seqio, TensorFlow and ArrayRecord are
imported by the functions that need them, so that --help and flag mistakes answer at once. Layout of OUT:

  manifest.json            mixture, split, seed, examples, shard names, records and bytes, features, vocabulary
  shard-00000.array_record ... one record per example: the `inputs` and `targets` token ids
"""

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from flanx import data_dir, errors
from flanx.errors import FlanxError, closest
from flanx.input import truncation

MANIFEST = "manifest.json"
FORMAT = "flanx-token-cache-1"
FEATURES = ("inputs", "targets")
_HEADER = np.dtype("<u4")
_TOKENS = np.dtype("<i4")


def encode(example: dict) -> bytes:
  """One record: the features' lengths (uint32 each), then their token ids (int32), in FEATURES order."""
  arrays = [np.asarray(example[k], dtype=_TOKENS) for k in FEATURES]
  return np.array([a.size for a in arrays], dtype=_HEADER).tobytes() + b"".join(a.tobytes() for a in arrays)


def decode(record: bytes) -> dict[str, np.ndarray]:
  sizes = np.frombuffer(record, dtype=_HEADER, count=len(FEATURES))
  out, offset = {}, len(FEATURES) * _HEADER.itemsize
  for k, n in zip(FEATURES, sizes):
    out[k] = np.frombuffer(record, dtype=_TOKENS, count=int(n), offset=offset)
    offset += int(n) * _TOKENS.itemsize
  return out


@dataclasses.dataclass(frozen=True)
class Manifest:
  """What a cache holds; written last, so a directory with a manifest is a complete cache."""
  mixture: str
  split: str
  seed: int
  examples: int
  shards: list[str]
  shard_examples: list[int]
  vocabulary: str
  vocab_size: int
  eos_id: int
  add_eos: dict[str, bool]
  format: str = FORMAT
  shard_bytes: list[int] | None = None  # None in caches written before sizes were recorded

  @classmethod
  def read(cls, directory: str | os.PathLike) -> "Manifest":
    path = pathlib.Path(directory) / MANIFEST
    if not path.is_file():
      raise FlanxError(f"no data cache at {directory}: {path} does not exist (write one with "
                       f"`flanx data cache MIXTURE --out {directory}`)")
    try:
      fields = json.loads(path.read_text())
      manifest = cls(**fields)
    except (ValueError, TypeError) as e:
      raise FlanxError(f"{path} is not a flanx data cache manifest: {e}") from e
    if manifest.format != FORMAT:
      raise FlanxError(f"{path} has format {manifest.format!r}; this flanx reads {FORMAT!r}")
    return manifest

  def paths(self, directory: str | os.PathLike) -> list[pathlib.Path]:
    paths = [pathlib.Path(directory) / name for name in self.shards]
    missing = [p for p in paths if not p.is_file()]
    if missing:
      raise FlanxError(f"data cache {directory} lacks shard {missing[0]} named in its {MANIFEST}; "
                       f"{self.rebuild(directory)}")
    return paths

  def rebuild(self, directory: str | os.PathLike) -> str:
    """How to write this cache again, identically."""
    return (f"rebuild it with `flanx data cache {self.mixture} --out {directory} --examples {self.examples} "
            f"--split {self.split} --seed {self.seed} --shard-examples {max(self.shard_examples, default=1)} "
            f"--replace`")

  def check_shards(self, directory: str | os.PathLike) -> None:
    """Every shard is present, of the size the manifest records, and holds its records: a truncated or
    corrupted shard is one line naming it, before training reads anything."""
    from array_record.python import array_record_module  # only readers and writers need it
    sizes = self.shard_bytes or [None] * len(self.shards)
    for path, records, size in zip(self.paths(directory), self.shard_examples, sizes):
      problem = None
      if size is not None and path.stat().st_size != size:
        problem = f"is {path.stat().st_size:,} bytes, the manifest says {size:,}"
      else:
        try:
          reader = array_record_module.ArrayRecordReader(str(path))
          found = reader.num_records()
          reader.close()
        except (RuntimeError, OSError, ValueError) as e:
          found, problem = None, f"cannot be read ({str(e).strip().splitlines()[0] if str(e).strip() else e!r})"
        if problem is None and found != records:
          problem = f"holds {found} records, the manifest says {records}"
      if problem:
        raise FlanxError(f"data cache shard {path} {problem}: it is truncated or corrupted; "
                         f"{self.rebuild(directory)}")

  def fingerprint(self) -> str:
    """What the cache holds, in a few words and a digest: a checkpoint's reader positions are only valid for
    the cache with the same fingerprint."""
    content = json.dumps([self.mixture, self.split, self.seed, self.examples, self.shard_examples, self.vocabulary])
    return (f"{self.mixture}/{self.split} seed {self.seed}, {self.examples} examples, "
            f"{hashlib.sha256(content.encode()).hexdigest()[:12]}")


def _write_atomic(path: pathlib.Path, records: Iterable[bytes]) -> int:
  from array_record.python import array_record_module
  tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
  writer = array_record_module.ArrayRecordWriter(str(tmp), "group_size:1")
  count = 0
  try:
    for record in records:
      writer.write(record)
      count += 1
  finally:
    writer.close()
  tmp.replace(path)
  return count


def describe(vocabulary) -> str:
  """A vocabulary in words, for the manifest and the reader's check against the model's."""
  path = getattr(vocabulary, "sentencepiece_model_file", None)
  return f"{type(vocabulary).__name__}({path})" if path else type(vocabulary).__name__


def examples(mixture: str, split: str, seed: int) -> Iterator[dict[str, np.ndarray]]:
  """The mixture's training stream, tokenized, before trimming and the feature converter."""
  import seqio
  provider = seqio.get_mixture_or_task(mixture)
  ds = provider.get_dataset(None, split=split, shuffle=True, seed=seed, num_epochs=None)
  for example in ds.as_numpy_iterator():
    yield {k: example[k] for k in FEATURES}


def check_split(mixture: str, split: str) -> None:
  """The split exists in at least one of the mixture's tasks (seqio skips the others, and raises only when the
  stream is first read)."""
  import seqio
  splits = sorted(seqio.get_mixture_or_task(mixture).splits)  # a mixture's: the union of its tasks'
  if split not in splits:
    raise FlanxError(f"--split {split!r}: {mixture} has no such split (it has {', '.join(map(repr, splits))})"
                     + closest(split, splits))


def write(mixture: str, out: str | os.PathLike, num_examples: int, *, split: str = "train", seed: int = 0,
          shard_examples: int = 50_000, progress: bool = False, replace: bool = False,
          lengths: truncation.LengthSummary | None = None) -> Manifest:
  """Writes the first `num_examples` of the mixture's stream to shards under `out` (their sizes noted by
  `lengths`); returns the manifest."""
  from flanx.input import seqio_source
  if num_examples < 1 or shard_examples < 1:
    raise FlanxError(f"--examples ({num_examples}) and --shard-examples ({shard_examples}) must be positive")
  check_out(out, replace)
  seqio_source.check_task_name(mixture)  # registers the tasks; an unknown name is one line with suggestions
  check_split(mixture, split)
  return _write_checked(mixture, out, num_examples, split, seed, shard_examples, progress, lengths)


def _write_checked(mixture: str, out: str | os.PathLike, num_examples: int, split: str, seed: int,
                   shard_examples: int, progress: bool, lengths: truncation.LengthSummary | None) -> Manifest:
  """`write`, once --out, the mixture's name and the split have been checked (each once per command)."""
  import seqio

  from flanx import vocab
  stream = examples(mixture, split, seed)
  if lengths is not None:
    stream = lengths.tap(stream)
  features = seqio.get_mixture_or_task(mixture).output_features
  active = vocab.active()
  manifest = Manifest(mixture=mixture, split=split, seed=seed, examples=0, shards=[], shard_examples=[],
                      vocabulary=describe(active), vocab_size=int(active.vocab_size), eos_id=int(active.eos_id),
                      add_eos={k: bool(features[k].add_eos) for k in FEATURES})
  return _stage_and_install(stream, pathlib.Path(out), num_examples, manifest, shard_examples, progress)


def check_out(out: str | os.PathLike, replace: bool) -> None:
  """--out can be created, and is new or empty unless --replace: a cache never mixes with other files."""
  errors.writable_dir("--out", out)
  path = pathlib.Path(out)
  if path.is_dir() and any(path.iterdir()):
    count = sum(1 for _ in path.iterdir())
    what = "a complete data cache" if (path / MANIFEST).is_file() else f"{count} entr{'y' if count == 1 else 'ies'}"
    if not replace:
      raise FlanxError(f"--out={out} is not empty (it holds {what}); give --replace to replace it whole, or a new "
                       f"or empty directory")
    if not (path / MANIFEST).is_file() and not list(path.glob("shard-*.array_record")):
      raise FlanxError(f"--out={out} holds {what} and no data cache; --replace only replaces a data cache: "
                       f"give a new or empty directory")


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
  """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so that the staging directory is removed either way."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  def interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
  previous = signal.signal(signal.SIGTERM, interrupt)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


def _staging(out: pathlib.Path) -> pathlib.Path:
  """A new directory beside `out` (same filesystem, so the final rename is atomic)."""
  staging = out.parent / f".{out.name}.partial-{os.getpid()}"
  try:
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)  # a leftover of this pid's earlier, killed run
    staging.mkdir()
  except OSError as e:
    raise FlanxError(f"--out={out}: cannot write beside it in {out.parent} ({e.strerror or e})") from e
  return staging


def _install(staging: pathlib.Path, out: pathlib.Path) -> None:
  """Moves the complete cache to `out`; an existing cache there (--replace) is swapped out whole, then removed."""
  if out.is_dir() and any(out.iterdir()):
    old = out.parent / f".{out.name}.replaced-{os.getpid()}"
    out.rename(old)
    try:
      staging.rename(out)
    except BaseException:
      old.rename(out)
      raise
    shutil.rmtree(old, ignore_errors=True)
  else:
    os.replace(staging, out)  # over an empty directory, or none


def write_examples(stream: Iterator[dict], out: str | os.PathLike, num_examples: int, manifest: Manifest, *,
                   shard_examples: int = 50_000, progress: bool = False, replace: bool = False) -> Manifest:
  """The first `num_examples` of `stream` as shards under `out`, then `manifest` with the shards filled in.
  Written to a staging directory beside `out` and renamed when complete: a failure, Ctrl-C or SIGTERM leaves
  `out` as it was."""
  check_out(out, replace)
  return _stage_and_install(stream, pathlib.Path(out), num_examples, manifest, shard_examples, progress)


def _stage_and_install(stream: Iterator[dict], out: pathlib.Path, num_examples: int, manifest: Manifest,
                       shard_examples: int, progress: bool) -> Manifest:
  """`write_examples` once --out has been checked."""
  staging = _staging(out)
  try:
    with _sigterm_interrupts():
      manifest = _write_shards(stream, staging, num_examples, manifest, shard_examples, progress, out)
      _install(staging, out)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return manifest


def _write_shards(stream: Iterator[dict], directory: pathlib.Path, num_examples: int, manifest: Manifest,
                  shard_examples: int, progress: bool, out: pathlib.Path) -> Manifest:
  shards, sizes, shard_bytes, written, start = [], [], [], 0, time.perf_counter()
  while written < num_examples:
    n = min(shard_examples, num_examples - written)
    name = f"shard-{len(shards):05d}.array_record"
    count = _write_atomic(directory / name, (encode(next(stream)) for _ in range(n)))
    shards.append(name)
    sizes.append(count)
    shard_bytes.append((directory / name).stat().st_size)
    written += count
    if progress:
      rate = written / max(time.perf_counter() - start, 1e-9)
      print(f"flanx data cache: {written:,} / {num_examples:,} examples ({rate:,.0f}/s), {out / name}", flush=True)
  manifest = dataclasses.replace(manifest, examples=written, shards=shards, shard_examples=sizes,
                                 shard_bytes=shard_bytes)
  (directory / MANIFEST).write_text(json.dumps(dataclasses.asdict(manifest), indent=1))
  return manifest


def main(argv: Sequence[str]) -> int:
  parser = argparse.ArgumentParser(prog="flanx data cache", description=__doc__.splitlines()[0])
  parser.add_argument("mixture", help="a registered mixture or task, e.g. flan2022_mini")
  parser.add_argument("--out", required=True, help="the cache directory (DATA_CACHE_DIR of the training run)")
  parser.add_argument("--examples", type=int, required=True, help="how many examples of the stream to write")
  parser.add_argument("--split", default="train")
  parser.add_argument("--seed", type=int, default=0, help="the stream's shuffle and mixing seed")
  parser.add_argument("--shard-examples", type=int, default=50_000, help="examples per ArrayRecord shard")
  parser.add_argument("--vocab", choices=data_dir.VOCAB_CHOICES, default="sentencepiece",
                      help="must be the training model's vocabulary (VOCABULARY); 'byte' for the tiny demo models")
  parser.add_argument("--replace", action="store_true",
                      help="replace the data cache already at --out, whole, once the new one is complete")
  parser.add_argument("--allow_partial", "--allow-partial", action="store_true",
                      help="cache a mixture whose sources are partly missing from the present ones "
                           "(ALLOW_PARTIAL_MIXTURE)")
  given_dir, argv = data_dir.split_argv(argv)
  args = parser.parse_args(list(argv))
  if not args.out.strip():
    raise FlanxError("--out is empty: give the cache directory")
  if args.examples < 1 or args.shard_examples < 1:
    raise FlanxError(f"--examples ({args.examples}) and --shard-examples ({args.shard_examples}) must be positive")
  check_out(args.out, args.replace)  # before the tasks are registered and read
  from flanx import vocab
  from flanx.input import seqio_source
  _, which = vocab.install_for_command(given_dir, args.vocab)
  # The name as the user gave it (not MIXTURE_OR_TASK_NAME); this also registers the tasks.
  seqio_source.check_task_name(args.mixture, given_as="the MIXTURE argument of flanx data cache")
  check_split(args.mixture, args.split)
  if args.allow_partial:
    import gin
    gin.bind_parameter("allow_partial_mixture.allow", True)
  print(f"flanx data cache: {args.mixture} ({which}), {args.examples:,} examples to {args.out}", flush=True)
  lengths = truncation.LengthSummary(FEATURES)
  manifest = _write_checked(args.mixture, args.out, args.examples, args.split, args.seed, args.shard_examples,
                            progress=True, lengths=lengths)
  print(f"flanx data cache: wrote {manifest.examples:,} examples in {len(manifest.shards)} shards and "
        f"{pathlib.Path(args.out).resolve() / MANIFEST}; {lengths.line()}", flush=True)
  return 0
