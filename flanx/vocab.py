"""Vocabularies: T5's SentencePiece model for real runs, bytes for offline demos and tests.

Code that tokenises or decodes takes its vocabulary as an argument (the model's, from gin or the checkpoint's
config.gin; or an argparse command's --vocab). The one exception is seqio's task registry: it is process-wide
and its tasks take no arguments, so they are registered with `TASK_VOCABULARY`, which stands for the run's
vocabulary. `data_dir.install(context)` is the one place that sets it (from the entry point's DataContext),
before any dataset is built, so a task's token ids always match the model's embedding table. This module
builds on data_dir (where the files are); data_dir never imports it.
"""

import os
import pathlib

import gin
import seqio

from flanx import data_dir

T5_EXTRA_IDS = 100
CHOICES = data_dir.VOCAB_CHOICES


class _SentencePiece(seqio.SentencePieceVocabulary):
  """seqio's vocabulary, which reads its model file on first use; a file known to be missing is one
  FlanxError line then, and at `check()`, which every entry point runs before reading data."""

  def __init__(self, path: str, extra_ids: int, missing: str | None = None):
    super().__init__(path, extra_ids=extra_ids)
    self.missing = missing

  def _model_context(self):
    check(self)
    return super()._model_context()


def check(vocabulary: seqio.Vocabulary) -> None:
  """Raises the one-line FlanxError of a SentencePiece vocabulary whose model file is missing."""
  data_dir.check_vocabulary(vocabulary)


@gin.configurable
def sentencepiece(path: str | None = None, extra_ids: int = T5_EXTRA_IDS) -> seqio.SentencePieceVocabulary:
  """T5's SentencePiece vocabulary: `path`, else DATA_DIR/vocab/spiece.model. Never a download: a missing
  file is one FlanxError line naming the path and how to set it, when the vocabulary is first needed (a model
  built only for its shapes, as `flanx bench train` does, needs no file)."""
  if path is None:
    try:
      return _SentencePiece(str(data_dir.current().vocabulary_file()), extra_ids)
    except data_dir.FlanxError as e:
      return _SentencePiece(os.path.join(*data_dir.VOCABULARY_FILE), extra_ids, missing=str(e))
  if not isinstance(path, (str, os.PathLike)) or not str(path):
    raise data_dir.FlanxError(f"vocab.sentencepiece.path={path!r}: give the SentencePiece model's path as a string")
  if "://" not in str(path) and not pathlib.Path(path).is_file():
    return _SentencePiece(os.fspath(path), extra_ids,
                          missing=f"SentencePiece model {path} does not exist (vocab.sentencepiece.path)")
  return _SentencePiece(os.fspath(path), extra_ids)


def for_command(choice: str, context: "data_dir.DataContext") -> tuple[seqio.Vocabulary, str]:
  """The vocabulary of a --vocab flag (inspect, bench data, data cache) and a line saying which it is.

  'auto' takes the data directory's SentencePiece model when there is one, else the byte vocabulary, so the
  README's commands run on a machine with no data directory; 'sentencepiece' insists on the model."""
  if choice not in CHOICES:
    raise data_dir.FlanxError(f"--vocab {choice!r}: choose one of {', '.join(CHOICES)}")
  if choice == "byte":
    return byte(), "byte vocabulary"
  try:  # these commands take no gin bindings: the other way is their flag
    path = context.vocabulary_file(instead="give --vocab byte for a model with the byte vocabulary"
                                   if choice == "sentencepiece" else None)
  except data_dir.FlanxError as e:
    if choice == "sentencepiece":
      raise
    return byte(), f"byte vocabulary ({e}; --vocab sentencepiece insists on it)"
  return _SentencePiece(os.fspath(path), T5_EXTRA_IDS), f"SentencePiece vocabulary {path}"


def install_for_command(given_dir: str | os.PathLike | None, vocab_choice: str) -> tuple[data_dir.DataContext, str]:
  """The argparse commands' set-up (inspect, bench data, data cache): resolves the data directory (`given_dir`
  is data_dir.split_argv's --gin.DATA_DIR), takes the --vocab vocabulary and installs both. Returns the context
  and a line saying which vocabulary it is."""
  context = data_dir.resolve(given_dir)
  vocabulary, which = for_command(vocab_choice, context)
  context = context.with_vocabulary(vocabulary)
  data_dir.install(context)
  return context, which


@gin.configurable
def byte() -> seqio.ByteVocabulary:
  """UTF-8 bytes (259 ids): needs no file, used by the demo and the tests."""
  return seqio.ByteVocabulary()


def use(vocabulary: seqio.Vocabulary) -> None:
  """Makes `vocabulary` the one every flanx task encodes with, in this process. Entry points do not call this:
  they pass a DataContext to `data_dir.install`, which does (tests may set it directly)."""
  data_dir.use_task_vocabulary(vocabulary)


def active() -> seqio.Vocabulary:
  if data_dir.task_vocabulary() is None:
    data_dir.use_task_vocabulary(sentencepiece())
  return data_dir.task_vocabulary()


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
    return f"TASK_VOCABULARY(-> {active()!r})" if data_dir.task_vocabulary() is not None else "TASK_VOCABULARY(unset)"


TASK_VOCABULARY = _ActiveVocabulary()


def output_features(add_eos: bool = True) -> dict[str, seqio.Feature]:
  """The `inputs`/`targets` features every flanx text-to-text task declares."""
  return {
      "inputs": seqio.Feature(vocabulary=TASK_VOCABULARY, add_eos=add_eos),
      "targets": seqio.Feature(vocabulary=TASK_VOCABULARY, add_eos=add_eos),
  }
