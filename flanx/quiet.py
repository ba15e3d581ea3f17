"""Start-up quiet for every command: TensorFlow/CUDA banners off, each absl warning shown once.

`environment()` must run before tensorflow or jax is imported (the entry points call it first thing);
`once_per_message()` installs a filter on the 'absl' logger, which exists before absl is imported.
`import_tensorflow()` imports TensorFlow with its C++ start-up lines (written before TF_CPP_MIN_LOG_LEVEL is
read) held back; any other line it prints is passed on.
"""

import importlib
import importlib.util
import logging
import os
import re
import sys
import tempfile

# TF's C++ log (CUDA/oneDNN/cuInit banners; errors reach flanx as Python exceptions), gRPC's, and oneDNN's notice.
_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "TF_ENABLE_ONEDNN_OPTS": "0"}


# What TensorFlow's C++ side prints on import of a CPU-only or CUDA machine, before its log level applies.
_IMPORT_NOISE = re.compile(r"All log messages before absl::InitializeLog|cudart_stub\.cc|"
                           r"Unable to register cu(DNN|FFT|BLAS)|"
                           r"computation placer already registered|TF-TRT Warning|oneDNN custom operations|"
                           r"cuda_(dnn|fft|blas)\.cc|This TensorFlow binary is optimized")


class _OncePerMessage(logging.Filter):
  def __init__(self):
    super().__init__()
    self._seen: set[str] = set()

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno >= logging.ERROR:
      return True
    key = f"{record.pathname}:{record.lineno}:{record.getMessage()}"
    if key in self._seen:
      return False
    self._seen.add(key)
    return True


def environment() -> None:
  """Quiet defaults; a value the user exported wins."""
  for name, value in _ENVIRONMENT.items():
    os.environ.setdefault(name, value)
  once_per_message()


def once_per_message() -> None:
  logger = logging.getLogger("absl")
  if not any(isinstance(f, _OncePerMessage) for f in logger.filters):
    logger.addFilter(_OncePerMessage())


def import_tensorflow() -> None:
  """Imports tensorflow (if installed and not yet imported) with stderr captured at the file-descriptor level,
  then replays every captured line except the known start-up noise."""
  if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
    return
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as capture:
    os.dup2(capture.fileno(), 2)
    try:
      importlib.import_module("tensorflow")
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      capture.seek(0)
      kept = [line for line in capture.read().decode("utf-8", "replace").splitlines() if not _IMPORT_NOISE.search(line)]
      if kept:
        print("\n".join(kept), file=sys.stderr, flush=True)
