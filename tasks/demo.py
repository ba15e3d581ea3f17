"""A small synthetic mixture that needs no data files: copy and reverse random letter strings.

It is what `make demo` and the trainer tests learn. Held-out (validation) strings come from a different
seed than training strings.
"""

import random

import seqio
import tensorflow as tf

from flanx import vocab

COPY_TASK = "flanx_demo_copy"
REVERSE_TASK = "flanx_demo_reverse"
MIXTURE = "flanx_demo"

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
_SPLIT_SEEDS = {"train": 0, "validation": 1}
_SPLIT_SIZES = {"train": 20_000, "validation": 200}


def _letter_strings(split: str, min_len: int = 3, max_len: int = 8) -> list[str]:
  rng = random.Random(_SPLIT_SEEDS[split])
  return ["".join(rng.choices(_ALPHABET, k=rng.randint(min_len, max_len))) for _ in range(_SPLIT_SIZES[split])]


def _dataset_fn(transform, prefix: str):
  def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
    del shuffle_files, seed  # one in-memory "file"; seqio shuffles examples
    words = _letter_strings(split)
    inputs = [f"{prefix}: {w}" for w in words]
    targets = [transform(w) for w in words]
    return tf.data.Dataset.from_tensor_slices({"inputs": inputs, "targets": targets})

  return dataset_fn


def _register(name: str, transform, prefix: str) -> None:
  seqio.TaskRegistry.add(
      name,
      source=seqio.FunctionDataSource(
          _dataset_fn(transform, prefix), splits=tuple(_SPLIT_SEEDS), num_input_examples=_SPLIT_SIZES
      ),
      preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim],
      output_features=vocab.output_features(),
      metric_fns=[],
  )


_register(COPY_TASK, lambda w: w, "copy")
_register(REVERSE_TASK, lambda w: w[::-1], "reverse")
seqio.MixtureRegistry.add(MIXTURE, [COPY_TASK, REVERSE_TASK], default_rate=1.0)
