"""Vocabularies: T5's SentencePiece model for real runs, bytes for offline demos and tests.

Tasks are registered with `TASK_VOCABULARY`, which stands for whichever vocabulary the run's model uses
(the gin macro VOCABULARY). The trainer, evaluator and `flanx inspect` call `use()` with it before any
dataset is built, so a task's token ids always match the model's embedding table.
"""

import os
import pathlib

import gin
import seqio

from flanx import data_dir

# Where T5X and the Flan-T5 checkpoints take the vocabulary from.
T5_VOCABULARY_PATH = "gs://t5-data/vocabs/cc_all.32000/sentencepiece.model"
T5_EXTRA_IDS = 100


@gin.configurable
def sentencepiece(path: str | None = None, extra_ids: int = T5_EXTRA_IDS) -> seqio.SentencePieceVocabulary:
  """T5's SentencePiece vocabulary. Without a path: DATA_DIR/vocab/spiece.model if present, else T5's GCS path."""
  if path is None:
    local = data_dir.data_dir(required=False)
    path = str(local / "vocab" / "spiece.model") if local and (local / "vocab" / "spiece.model").exists() else T5_VOCABULARY_PATH
  elif "://" not in path and not pathlib.Path(path).exists():
    raise data_dir.FlanxError(f"SentencePiece model {path} does not exist (vocab.sentencepiece.path)")
  return seqio.SentencePieceVocabulary(os.fspath(path), extra_ids=extra_ids)


@gin.configurable
def byte() -> seqio.ByteVocabulary:
  """UTF-8 bytes (259 ids): needs no file, used by the demo and the tests."""
  return seqio.ByteVocabulary()


_active: seqio.Vocabulary | None = None


def use(vocabulary: seqio.Vocabulary) -> None:
  """Makes `vocabulary` the one every flanx task encodes with, in this process."""
  global _active
  _active = vocabulary


def active() -> seqio.Vocabulary:
  global _active
  if _active is None:
    _active = sentencepiece()
  return _active


class _ActiveVocabulary(seqio.Vocabulary):
  """A seqio vocabulary that forwards to `active()`, chosen when data is first encoded, not at import."""

  def __init__(self):
    super().__init__(extra_ids=0)

  @property
  def eos_id(self):
    return active().eos_id

  @property
  def unk_id(self):
    return active().unk_id

  @property
  def pad_id(self):
    return active().pad_id

  @property
  def bos_id(self):
    return active().bos_id

  @property
  def extra_ids(self):
    return active().extra_ids

  @property
  def vocab_size(self):
    return active().vocab_size

  @property
  def _base_vocab_size(self):
    return active().vocab_size

  def _encode(self, s):
    return active().encode(s)

  def _decode(self, ids):
    return active().decode(ids)

  def _encode_tf(self, s):
    return active().encode_tf(s)

  def _decode_tf(self, ids):
    return active().decode_tf(ids)

  def encode(self, s):
    return active().encode(s)

  def decode(self, ids):
    return active().decode(ids)

  def encode_tf(self, s):
    return active().encode_tf(s)

  def decode_tf(self, ids):
    return active().decode_tf(ids)

  def __eq__(self, other):
    return isinstance(other, _ActiveVocabulary) or active() == other

  def __hash__(self):
    return hash(_ActiveVocabulary)

  def __repr__(self):
    return f"TASK_VOCABULARY(-> {active()!r})" if _active is not None else "TASK_VOCABULARY(unset)"


TASK_VOCABULARY = _ActiveVocabulary()


def output_features(add_eos: bool = True) -> dict[str, seqio.Feature]:
  """The `inputs`/`targets` features every flanx text-to-text task declares."""
  return {
      "inputs": seqio.Feature(vocabulary=TASK_VOCABULARY, add_eos=add_eos),
      "targets": seqio.Feature(vocabulary=TASK_VOCABULARY, add_eos=add_eos),
  }
