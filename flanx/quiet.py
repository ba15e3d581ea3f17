"""Start-up quiet for every command: TensorFlow/CUDA banners off, each absl warning shown once.

`environment()` must run before tensorflow or jax is imported (the entry points call it first thing). It sets
TensorFlow's C++ log level and makes the first import of tensorflow, wherever it happens (seqio imports it, so
do the tasks and the models' vocabularies), hold back the C++ start-up lines that are written before that level
is read, and hide the GPUs from TensorFlow: it only reads data for jax (T5X does the same), and its CUDA probe
(a `cuInit` error line on a machine without a GPU driver) then happens inside that window. Nothing imports
TensorFlow ahead of need: what needs no data and no vocabulary (`bench blocks`, every --help, the flag checks
that come before a command's heavy part) never pays its seconds of start-up.
`once_per_message()` installs a filter on the 'absl' logger, which exists before absl is imported; it also drops
the warnings that flanx's own reports replace.
"""

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import tempfile

# TF's C++ log (CUDA/oneDNN/cuInit banners; errors reach flanx as Python exceptions), gRPC's, and oneDNN's notice.
_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "TF_ENABLE_ONEDNN_OPTS": "0"}


# What TensorFlow's C++ side prints on import of a CPU-only or CUDA machine, before its log level applies, and
# its CUDA probe's error without a driver (printed unless TF_CPP_MIN_LOG_LEVEL is 3).
_IMPORT_NOISE = re.compile(r"All log messages before absl::InitializeLog|cudart_stub\.cc|"
                           r"Unable to register cu(DNN|FFT|BLAS)|"
                           r"computation placer already registered|TF-TRT Warning|oneDNN custom operations|"
                           r"cuda_(dnn|fft|blas)\.cc|This TensorFlow binary is optimized|"
                           r"cuda_platform\.cc.*failed call to cuInit|cuda_diagnostics\.cc|cuda_executor\.cc")


# absl warnings that flanx's own output replaces: seqio's eval-length advice, once per setting with three lines
# each, says what the evaluation's "Lengths (tokens)" table reports (input length against the longest prompt).
_SUPERSEDED = re.compile(r"^Given sequence lengths are longer than necessary for some evaluation inputs")


class _OncePerMessage(logging.Filter):
  def __init__(self):
    super().__init__()
    self._seen: set[str] = set()

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno >= logging.ERROR:
      return True
    if _SUPERSEDED.match(record.getMessage()):
      return False
    key = f"{record.pathname}:{record.lineno}:{record.getMessage()}"
    if key in self._seen:
      return False
    self._seen.add(key)
    return True


def environment() -> None:
  """Quiet defaults (a value the user exported wins), and the first import of tensorflow held back."""
  for name, value in _ENVIRONMENT.items():
    os.environ.setdefault(name, value)
  once_per_message()
  if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorflowImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietTensorflowImport())


def once_per_message() -> None:
  logger = logging.getLogger("absl")
  if not any(isinstance(f, _OncePerMessage) for f in logger.filters):
    logger.addFilter(_OncePerMessage())


@contextlib.contextmanager
def _held_back_stderr():
  """Captures stderr at the file-descriptor level (C++ writes there directly), then replays every captured
  line except the known start-up noise."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as capture:
    os.dup2(capture.fileno(), 2)
    try:
      yield
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      capture.seek(0)
      kept = [line for line in capture.read().decode("utf-8", "replace").splitlines() if not _IMPORT_NOISE.search(line)]
      if kept:
        print("\n".join(kept), file=sys.stderr, flush=True)


def _hide_gpus(tf) -> None:
  """TensorFlow reads data on the host; left alone it would probe CUDA on first use and reserve GPU memory
  that jax needs."""
  try:
    tf.config.set_visible_devices([], "GPU")
  except (RuntimeError, ValueError, AttributeError):  # already initialised by the caller, or a partial install
    pass


class _QuietTensorflowLoader(importlib.abc.Loader):
  """tensorflow's own loader, run with stderr held back, then its GPUs hidden."""

  def __init__(self, loader: importlib.abc.Loader):
    self._loader = loader

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module) -> None:
    with _held_back_stderr():
      self._loader.exec_module(module)
      _hide_gpus(module)

  def __getattr__(self, name: str):  # get_resource_reader, is_package, ...: the real loader's
    return getattr(self._loader, name)


class _QuietTensorflowImport(importlib.abc.MetaPathFinder):
  """Finds tensorflow as the path finder does, with the quiet loader (asked again only if it is unloaded)."""

  def find_spec(self, name, path=None, target=None):
    if name != "tensorflow":
      return None
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is not None and spec.loader is not None:
      spec.loader = _QuietTensorflowLoader(spec.loader)
    return spec
