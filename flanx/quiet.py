"""Start-up quiet for every command: TensorFlow/CUDA banners off, each absl warning shown once.

`environment()` must run before tensorflow or jax is imported (the entry points call it first thing);
`once_per_message()` installs a filter on the 'absl' logger, which exists before absl is imported.
"""

import logging
import os

# TF's C++ log (CUDA/oneDNN/cuInit banners; errors reach flanx as Python exceptions), gRPC's, and oneDNN's notice.
_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "TF_ENABLE_ONEDNN_OPTS": "0"}


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
